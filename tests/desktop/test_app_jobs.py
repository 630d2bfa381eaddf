"""Qt-free parts of the app: the classification job, previews, display maths, settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop import display_maths
from desktop.audit import AuditEvent, AuditLog
from desktop.jobs import (
    Discovered,
    ResultRow,
    classified,
    classify_job,
    flag_entry,
    load_preview,
    sync_flags,
)
from desktop.review_store import ReviewStore
from desktop.settings import Settings
from pneumonia_core import pipeline
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.model import ModelBundle
from pneumonia_core.pipeline import classify_file, classify_many


@pytest.fixture(scope="module")
def bundle(model_dir) -> ModelBundle:
    return ModelBundle.load(model_dir)


def test_classify_job_yields_saves_and_audits(tmp_path, full_res_images, bundle):
    bad = tmp_path / "bad.jpeg"
    bad.write_text("nope")
    paths = [str(p) for p in full_res_images[:3]] + [str(bad)]
    thr = bundle.metadata.threshold_value
    events = list(classify_job(paths, bundle, thr, tmp_path / "r.db"))
    assert isinstance(events[0], Discovered) and events[0].total == 4
    rows = [e.row for e in classified(events[1:])]
    assert [r.path for r in rows] == paths
    for r in rows[:3]:
        ref = classify_file(r.path, bundle)
        assert (r.status, r.prediction) == (ref.status, ref.prediction or "")
        assert r.probability == ref.probability
    assert rows[3].status == "error" and rows[3].flagged
    flagged = {e.row.path for e in classified(events[1:]) if e.flag is not None}
    assert flagged == {r.path for r in rows if r.flagged}
    with ReviewStore(tmp_path / "r.db") as store:
        assert {e.path for e in store.entries()} == flagged
    with AuditLog(tmp_path / "r.db") as audit:
        assert [e.path for e in audit.all()] == paths


def test_classify_job_can_stop_early_and_closes_its_files(tmp_path, full_res_images, bundle):
    gen = classify_job([str(p) for p in full_res_images], bundle, 0.5,
                       tmp_path / "r.db")
    next(gen)
    next(gen)
    gen.close()  # what the worker does on cancel
    with AuditLog(tmp_path / "r.db") as audit:
        assert audit.count() == 1


def test_rows_hold_no_pixels_only_the_small_heatmap(full_res_images, bundle):
    row = ResultRow.from_result(classify_file(full_res_images[0], bundle, keep_cam=True))
    arrays = [f for f in row.__slots__ if isinstance(getattr(row, f), np.ndarray)]
    assert arrays == ["cam"] and row.cam.dtype == np.float32 and row.cam.nbytes <= 1024
    assert row.logit is not None and not hasattr(row, "__dict__")


def test_preview_and_cam_from_the_same_bytes(full_res_images, bundle, tmp_path):
    p = load_preview(str(full_res_images[0]), bundle, 0.5)
    assert p.error == "" and p.pixels.dtype == np.uint8
    assert max(p.pixels.shape) <= 2048
    ref = classify_file(full_res_images[0], bundle, keep_cam=True)
    if ref.status == "ok":
        np.testing.assert_allclose(p.cam, ref.cam, atol=1e-6)
    broken = tmp_path / "x.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    bad = load_preview(str(broken), bundle, 0.5)
    assert bad.pixels is None and bad.error


def test_sync_flags_after_threshold_change(tmp_path):
    point = OperatingPoint(0.5)
    rows = [ResultRow(f"/x/{i}", "ok", p, "NORMAL", "", f"{i}" * 64, 0.5, False,
                      logit=float(np.log(p / (1 - p))))
            for i, p in enumerate([0.2, 0.4, 0.6])]
    rows[2].prediction, rows[2].flagged = "PNEUMONIA", True
    db = adb = tmp_path / "r.db"
    with ReviewStore(db) as s:
        s.upsert(flag_entry(rows[2], "m"))
    changed = [r for r in rows if r.redecide(point.with_threshold(0.3))]
    assert [r.path for r in changed] == ["/x/1"]
    assert [r.threshold for r in rows] == [0.3] * 3  # every row says which threshold decided it
    sync_flags(changed, AuditEvent("threshold", note="0.5 -> 0.3"), "m", db)
    with ReviewStore(db) as s:
        assert {e.path for e in s.entries()} == {"/x/1", "/x/2"}
    changed = [r for r in rows if r.redecide(point.with_threshold(0.9))]
    sync_flags(changed, AuditEvent("threshold", note="0.3 -> 0.9"), "m", db)
    with ReviewStore(db) as s:
        assert s.entries() == []
    with AuditLog(adb) as a:
        assert [e.note for e in a.all()] == ["0.5 -> 0.3", "0.3 -> 0.9"]


def test_window_lut_and_invert():
    lut = display_maths.window_lut(100, 50)
    assert lut[75] == 0 and lut[125] == 255 and lut[100] in (127, 128)
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(display_maths.apply_window(g, 127.5, 255, invert=True), 255 - g)


def test_heatmap_colours_and_alpha_follow_the_cam():
    cam = np.zeros((14, 14), np.float32)
    cam[3, 10] = 5.0
    rgba = display_maths.heatmap_rgba(cam, (280, 280), opacity=0.5)
    assert rgba.shape == (280, 280, 4)
    assert rgba[3 * 20 + 10, 10 * 20 + 10, 3] == rgba[..., 3].max() > 0
    assert rgba[250, 30, 3] == 0  # cold regions stay transparent
    assert rgba[..., 3].max() <= round(0.5 * 255)
    lut = display_maths.colormap_lut()
    assert lut.shape == (256, 3) and lut[0].sum() < lut[170].sum()
    flat = display_maths.heatmap_rgba(np.ones((14, 14)), (50, 40), 1.0)
    assert flat[..., 3].max() == 0


def test_settings_roundtrip_and_damage(tmp_path):
    p = tmp_path / "s.json"
    s = Settings(threshold_override=0.3, heatmap_opacity=0.7, first_start_acknowledged=True)
    s.save(p)
    back = Settings.load(p)
    assert back.threshold(0.5) == pytest.approx(0.3) and back.first_start_acknowledged
    assert Settings().threshold(0.42) == pytest.approx(0.42)
    p.write_text(json.dumps({"threshold_override": 7, "heatmap_opacity": "x"}))
    bad = Settings.load(p)
    assert bad.threshold_override is None and bad.heatmap_opacity == pytest.approx(0.45)
    p.write_text("{not json")
    assert Settings.load(p) == Settings()


def test_lower_thread_priority_only_affects_the_calling_thread():
    import os
    import sys
    import threading

    from desktop.qt.worker import lower_thread_priority

    if not sys.platform.startswith("linux"):
        lower_thread_priority(5)  # a no-op elsewhere; must not raise
        return
    seen = {}

    def run():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        lower_thread_priority(5)
        seen["delta"] = os.getpriority(os.PRIO_PROCESS, tid) - before

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen["delta"] == min(5, 19 - main_before)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before


def test_classify_job_with_two_threads_matches_one_thread_in_input_order(tmp_path, full_res_images,
                                                                         bundle):
    bad = tmp_path / "bad.jpeg"
    bad.write_text("nope")
    paths = [str(p) for p in full_res_images[:5]] + [str(bad)] + [str(p) for p in full_res_images[5:]]
    thr = bundle.metadata.threshold_value

    def rows(workers: int, name: str) -> list[ResultRow]:
        events = list(classify_job(paths, bundle, thr, tmp_path / f"{name}r.db",
                                   workers=workers))
        return [e.row for e in classified(events)]

    one, two = rows(1, "one"), rows(2, "two")
    assert [r.path for r in two] == paths
    assert [(r.status, r.probability, r.prediction, r.message, r.file_sha256) for r in two] == \
        [(r.status, r.probability, r.prediction, r.message, r.file_sha256) for r in one]
    assert two[5].status == "error"
    with AuditLog(tmp_path / "twor.db") as audit:
        assert [e.path for e in audit.all()] == paths


def _fake_classify(calls: list, delays: dict[str, float]):
    import threading
    import time

    from pneumonia_core.pipeline import Result

    def fake(path, model, point, keep_cam=False):
        calls.append((path, threading.get_ident(), id(model)))
        time.sleep(delays.get(path, 0.0))
        return Result(path, "ok", probability=0.1, prediction="NORMAL",
                      threshold=point.threshold, positive=False)

    return fake


def test_classify_many_uses_one_clone_per_thread_and_keeps_order(monkeypatch, bundle):
    paths = [f"/x/{i:03d}.png" for i in range(40)]
    # early files are slow, so later ones finish first on the other thread
    delays = {p: (0.02 if i % 3 == 0 else 0.0) for i, p in enumerate(paths)}
    calls: list = []
    monkeypatch.setattr(pipeline, "classify_file", _fake_classify(calls, delays))
    out = [r.path for r in classify_many(paths, bundle, 0.5, workers=2)]
    assert out == paths
    threads = {t for _, t, _ in calls}
    models = {t: {m for _, tt, m in calls if tt == t} for t in threads}
    assert len(threads) == 2
    assert all(len(m) == 1 for m in models.values())  # one clone per thread, kept
    assert len({next(iter(m)) for m in models.values()} | {id(bundle)}) == 3  # clones, not the original


@pytest.mark.parametrize("how", ["close", "event"])
def test_classify_many_stops_promptly_and_bounds_the_work_ahead(monkeypatch, bundle, how):
    import threading
    import time

    paths = [f"/x/{i:03d}.png" for i in range(200)]
    calls: list = []
    monkeypatch.setattr(pipeline, "classify_file",
                        _fake_classify(calls, dict.fromkeys(paths, 0.02)))
    stop = threading.Event()
    gen = classify_many(paths, bundle, 0.5, workers=2, cancel=stop)
    got = [next(gen).path for _ in range(3)]
    t0 = time.perf_counter()
    if how == "close":
        gen.close()
    else:
        stop.set()
        assert list(gen) == []  # nothing more once cancelled
    closing = time.perf_counter() - t0
    assert got == paths[:3]
    started = len(calls)
    assert started <= 3 + pipeline.IN_FLIGHT_PER_WORKER * 2  # never far ahead of the consumer
    assert closing < 1.0  # waits only for the files running (2 x 20 ms); wide margin
    assert not [t for t in threading.enumerate() if t.name.startswith("classify")]
    time.sleep(0.05)
    assert len(calls) == started  # nothing runs after close


def test_classify_many_threads_inherit_the_callers_lower_priority(monkeypatch, bundle):
    import os
    import sys
    import threading

    from desktop.qt.worker import lower_thread_priority

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread nice values are Linux only")
    seen: list[int] = []

    def fake(path, model, point, keep_cam=False):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return _fake_classify([], {})(path, model, point)

    monkeypatch.setattr(pipeline, "classify_file", fake)
    result: dict[str, int] = {}

    def batch_thread() -> None:
        lower_thread_priority(5)
        result["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        list(classify_many([f"/x/{i}" for i in range(8)], bundle, 0.5, workers=2))

    t = threading.Thread(target=batch_thread)
    t.start()
    t.join()
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert result["nice"] > main or main == 19
    assert seen and set(seen) == {result["nice"]}


def test_classify_many_without_a_model_or_with_one_file_stays_on_the_calling_thread(
        monkeypatch, bundle):
    import threading

    rows = list(classify_many(["/x/a.png", "/x/b.png"], None, 0.5, workers=2))
    assert [r.status for r in rows] == ["error", "error"] and "No model" in rows[0].message
    calls: list = []
    monkeypatch.setattr(pipeline, "classify_file", _fake_classify(calls, {}))
    one = list(classify_many(["/x/a.png"], bundle, 0.5, workers=2))
    assert [r.path for r in one] == ["/x/a.png"]
    assert [t for _, t, _ in calls] == [threading.get_ident()]
