"""bench.member_suite: trained networks judged on the shift suite's own files before conversion.
Its inputs must be what the app reads from the suite's shifted files, and its ranking must
follow the figures it prints."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import member_suite as ms
from bench import shift_suite as ss
from pneumonia_core.imageio import load_image
from tests.conftest import synthetic_xray


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("films")
    for label in ("NORMAL", "PNEUMONIA"):
        (root / label).mkdir()
        for i in range(2):
            gray = synthetic_xray(40 + i, size=(300, 260), pneumonia=label == "PNEUMONIA")
            Image.fromarray(gray).save(root / label / f"{label}_{i}.png")
    return root


def test_inputs_are_what_the_app_reads_from_the_suites_files(folder: Path,
                                                             tmp_path: Path) -> None:
    films = ss.list_films([folder])
    x, meta = ms.prepare(films, ("plain", "combined"), seeds=(0, 1), workers=1)
    assert x.dtype == np.uint8 and x.shape == (len(films) * 3, 224, 224)
    # the plain film once, the combined shift once per draw
    assert [(m["family"], m["seed"]) for m in meta[:3]] == [("plain", 0), ("combined", 0),
                                                            ("combined", 1)]
    for row, (m, xi) in enumerate(zip(meta, x, strict=True)):
        path = next(p for p, _ in films if Path(p).name == m["file"])
        data = ss.shifted_bytes(ss.load_working(Path(path)), m["family"],
                                ss.film_seed(m["seed"], m["file"], m["family"]))
        f = tmp_path / f"{row}.bin"
        f.write_bytes(data)
        assert np.array_equal(xi, load_image(f, 224)), m  # the app's loader on that file
        assert m["label"] == (m["file"].startswith("PNEUMONIA"))
    assert not np.array_equal(x[1], x[2])  # the draws differ


def test_judge_means_members_and_fits_the_release_rule_on_the_plain_films() -> None:
    from converter.external import EXTERNAL_TARGET_SENSITIVITY

    rng = np.random.default_rng(0)
    meta, y = [], []
    for fam, seeds in (("plain", (0,)), ("combined", (0, 1))):
        for s in seeds:
            for i in range(200):
                meta.append({"family": fam, "seed": s, "file": f"f{i}", "label": i % 2})
                y.append(i % 2)
    y = np.array(y)
    good = y * 4.0 + rng.normal(0, 1, y.size)   # separates well
    noise = rng.normal(0, 1, y.size)            # does not separate at all
    res = ms.judge({"good": good, "noise": noise}, meta, ["good", "noise"])
    both = (good + noise) / 2
    sel = [i for i, m in enumerate(meta) if m["family"] == "combined" and m["seed"] == 1]
    from pneumonia_core.metrics import roc_auc

    assert res["families"]["combined"]["roc_auc"][1] == pytest.approx(roc_auc(y[sel], both[sel]))
    assert len(res["families"]["combined"]["roc_auc"]) == 2
    assert len(res["families"]["plain"]["roc_auc"]) == 1
    alone = ms.judge({"good": good}, meta, ["good"])
    assert alone["families"]["combined"]["mean"] > res["families"]["combined"]["mean"]
    rule = alone["plain_at_rule"]
    assert rule["target_sensitivity"] == EXTERNAL_TARGET_SENSITIVITY
    assert rule["sensitivity"] >= EXTERNAL_TARGET_SENSITIVITY


def test_candidates_and_table_rank_by_the_combined_shift() -> None:
    assert ms.candidates(["a", "b", "c"], 2) == [("a",), ("b",), ("c",), ("a", "b"),
                                                 ("a", "c"), ("b", "c")]
    assert len(ms.candidates(["a", "b", "c"], 3)) == 7
    rows = [{"members": ["low"], "families": {"combined": {"roc_auc": [0.90, 0.92], "mean": 0.91}}},
            {"members": ["high"], "families": {"combined": {"roc_auc": [0.96, 0.97], "mean": 0.965}}}]
    lines = ms.table(rows).splitlines()
    assert lines[2].startswith("| high |") and "0.960 0.970; 0.965" in lines[2]
    assert lines[3].startswith("| low |")


def test_command_scores_each_run_and_reuses_its_prepared_inputs(folder: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    scored: list[tuple[str, int]] = []
    up, down = tmp_path / "up", tmp_path / "down"
    for run in (up, down):
        run.mkdir()
        (run / "model.keras").write_bytes(run.name.encode())

    def fake_logits(run_dir: str, x: np.ndarray) -> np.ndarray:  # stands in for the Keras model
        name = Path(run_dir).name
        scored.append((name, len(x)))
        return x.reshape(len(x), -1).mean(axis=1) * (1 if name == "up" else -1)

    monkeypatch.setattr(ms, "keras_logits", fake_logits)
    cache, out = tmp_path / "inputs.npz", tmp_path / "res.json"
    args = ["--data", str(folder), "--run", f"U={up}", "--run", f"D={down}", "--draws", "2",
            "--families", "plain,combined", "--workers", "1", "--cache", str(cache),
            "--json", str(out)]
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert ms.main(args) == 0
    assert scored == [("up", 12), ("down", 12)] and cache.is_file()
    res = json.loads(out.read_text())
    assert [r["members"] for r in res["results"]] == [["U"], ["D"], ["U", "D"]]
    assert "| U+D |" in buf.getvalue()
    # a second run reads both caches: the same inputs and logits, nothing prepared or scored
    monkeypatch.setattr(ms, "prepare", lambda *a, **k: pytest.fail("prepared again"))
    with redirect_stdout(io.StringIO()):
        assert ms.main(args) == 0
    assert len(scored) == 2 and json.loads(out.read_text()) == res
    # a changed checkpoint is scored again, the other one is not
    (down / "model.keras").write_bytes(b"retrained")
    with redirect_stdout(io.StringIO()):
        assert ms.main(args) == 0
    assert scored[2:] == [("down", 12)]
    # another set of draws does not match the cache
    with pytest.raises(BaseException, match="prepared again"):
        with redirect_stdout(io.StringIO()):
            ms.main([*args[:7], "1", *args[8:]])


def _run_with_split(tmp_path: Path, name: str, root: Path, val: list[tuple[str, int]],
                    train: list[tuple[str, int]]) -> Path:
    run = tmp_path / name
    run.mkdir()
    entries = {k: [{"path": p, "label": y} for p, y in v] for k, v in (("val", val),
                                                                       ("train", train))}
    (run / "split.json").write_text(json.dumps({"data_root": str(root), "seed": 1337, **entries}))
    return run


def test_validation_films_are_the_shared_held_out_split(folder: Path, tmp_path: Path) -> None:
    val = [("PNEUMONIA/PNEUMONIA_1.png", 1), ("NORMAL/NORMAL_1.png", 0),
           ("PNEUMONIA/PNEUMONIA_0.png", 1)]
    train = [("NORMAL/NORMAL_0.png", 0)]
    a = _run_with_split(tmp_path, "a", folder, val, train)
    b = _run_with_split(tmp_path, "b", folder, list(reversed(val)), train)
    films = ms.validation_films([a, b])
    # the val films only, in list_films' order (label, then name), under the recorded root
    assert films == [(str(folder / "NORMAL/NORMAL_1.png"), 0),
                     (str(folder / "PNEUMONIA/PNEUMONIA_0.png"), 1),
                     (str(folder / "PNEUMONIA/PNEUMONIA_1.png"), 1)]
    moved = tmp_path / "moved"
    assert ms.validation_films([a], moved)[0] == (str(moved / "NORMAL/NORMAL_1.png"), 0)
    # a member trained on another split would be judged on films it learnt from
    c = _run_with_split(tmp_path, "c", folder, val[:2], [*train, val[2]])
    with pytest.raises(ValueError, match="differs"):
        ms.validation_films([a, c])
    d = _run_with_split(tmp_path, "d", folder, val, [*train, val[0]])
    with pytest.raises(ValueError, match="no validation films apart"):
        ms.validation_films([d])


def test_command_scores_the_validation_split_with_val(folder: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    val = [("NORMAL/NORMAL_1.png", 0), ("PNEUMONIA/PNEUMONIA_0.png", 1)]
    a = _run_with_split(tmp_path, "a", folder, val, [("NORMAL/NORMAL_0.png", 0)])
    seen: list[int] = []

    def fake_logits(run_dir: str, x: np.ndarray) -> np.ndarray:
        seen.append(len(x))
        return x.reshape(len(x), -1).mean(axis=1)

    monkeypatch.setattr(ms, "keras_logits", fake_logits)
    out = tmp_path / "val.json"
    with redirect_stdout(io.StringIO()):
        assert ms.main(["--val", "--run", f"A={a}", "--draws", "1", "--families",
                        "plain,combined", "--workers", "1", "--json", str(out)]) == 0
    assert seen == [4]  # two validation films, plain and one combined draw each
    res = json.loads(out.read_text())
    assert res["films"] == 2 and res["data"] == ["validation split of the runs (train/)"]
    with pytest.raises(SystemExit):  # neither --data nor --val
        ms.main(["--run", f"A={a}"])


def test_held_out_and_design_halves() -> None:
    films = [(f"f{i}.png", i % 2) for i in range(9)]
    held, design = ss.held_out_and_design(films)
    assert held == ss.every_kth(films, 5) == films[::2]
    assert design == films[1::2]


def test_command_judges_one_half_of_the_films(folder: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pneumonia_core.metrics import roc_auc

    means: dict[str, float] = {}

    def fake_logits(run_dir: str, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1).mean(axis=1)

    monkeypatch.setattr(ms, "keras_logits", fake_logits)
    cache, out = tmp_path / "in.npz", tmp_path / "half.json"
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "model.keras").write_bytes(b"up")
    base = ["--data", str(folder), "--run", f"U={tmp_path / 'up'}", "--draws", "1", "--families", "plain",
            "--workers", "1", "--cache", str(cache), "--json", str(out)]
    with redirect_stdout(io.StringIO()):
        assert ms.main([*base, "--half", "design"]) == 0
    res = json.loads(out.read_text())
    assert res["half"] == "design" and res["films"] == 2
    # recompute from the cached inputs: the design half is the 2nd and 4th film
    with np.load(cache) as npz:
        x, info = npz["x"], json.loads(str(npz["info"]))
    for m, xi in zip(info["meta"], x, strict=True):
        means[m["file"]] = float(xi.mean())
    design = ["NORMAL_1.png", "PNEUMONIA_1.png"]
    expected = roc_auc(np.array([0, 1]), np.array([means[f] for f in design]))
    assert res["results"][0]["families"]["plain"]["roc_auc"] == [pytest.approx(expected)]
    with redirect_stdout(io.StringIO()):
        assert ms.main([*base, "--half", "held-out"]) == 0
    assert json.loads(out.read_text())["films"] == 2


def test_named_runs_keeps_order_and_refuses_a_malformed_option() -> None:
    parser = argparse.ArgumentParser()
    assert list(ms.named_runs(parser, ["B=runs/b", "A=runs/a=x"]).items()) == [
        ("B", "runs/b"), ("A", "runs/a=x")]
    for bad in ("runs/b", "=runs/b", "B="):
        with pytest.raises(SystemExit):
            ms.named_runs(parser, [bad])
