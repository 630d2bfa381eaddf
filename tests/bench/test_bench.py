"""Smoke tests of the benchmark suite (``python -m bench``): every benchmark returns sane,
structured numbers on a tiny workload. No speed is asserted: this machine is shared."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import machine, report
from bench.__main__ import DOCS_PAGE, Settings, main, run_all, update_docs
from bench.accuracy import operating_point, roc_auc
from tests.conftest import ROOT

MODEL_DIR = ROOT / "resources" / "model"


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_roc_auc_matches_hand_computed_values() -> None:
    # 4 positive/negative pairs: (0.35 vs 0.1) win, (0.35 vs 0.4) loss, 0.8 wins both -> 3/4
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)  # tie = half
    assert roc_auc(np.array([1, 0, 0]), np.array([0.9, 0.2, 0.1])) == pytest.approx(1.0)
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_operating_point_counts() -> None:
    op = operating_point(np.array([1, 1, 1, 0, 0]), np.array([0.9, 0.5, 0.2, 0.6, 0.1]), 0.5)
    assert (op["tp"], op["fn"], op["fp"], op["tn"]) == (2, 1, 1, 1)
    assert op["sensitivity"] == pytest.approx(2 / 3, abs=1e-4)
    assert op["specificity"] == pytest.approx(0.5)


def test_report_tables_handle_missing_measurements() -> None:
    rows = report.ratio_rows({})
    assert tuple(r.key for r in rows) == report.RATIO_KEYS
    assert all(r.value is None and r.cell() == "n/a" for r in rows)
    goals = report.goal_rows({})
    assert all(g.met is None for g in goals)
    md = report.markdown({})
    assert md.index("| ratio (same run)") < md.index("| goal |") < md.index("| absolute |")


def test_update_docs_replaces_only_the_generated_block(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("intro\n<!-- bench:results -->\nold table\n<!-- /bench:results -->\nafter\n")
    assert update_docs(page, "| new | table |\n")
    text = page.read_text()
    assert "old table" not in text and "| new | table |" in text
    assert text.startswith("intro\n") and text.endswith("<!-- /bench:results -->\nafter\n")
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not update_docs(plain, "x")
    assert plain.read_text() == "no markers\n"


def test_the_generated_block_lives_in_docs_benchmarks_not_the_readme() -> None:
    assert DOCS_PAGE == ROOT / "docs" / "benchmarks.md"
    assert "<!-- bench:results -->" in DOCS_PAGE.read_text(encoding="utf-8")
    assert "<!-- bench:results -->" not in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("option", ["--docs", "--readme"])
def test_docs_option_and_its_readme_alias_update_the_page(tmp_path: Path, option: str) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("intro\n<!-- bench:results -->\nstale table\n<!-- /bench:results -->\n")
    out = tmp_path / "res.json"
    assert main(["--only", "accuracy", "--out", str(out), option, "--docs-page", str(page)]) == 0
    text = page.read_text()
    assert "stale table" not in text and "| ratio (same run) |" in text
    assert text == "intro\n<!-- bench:results -->\n" + out.with_suffix(".md").read_text() \
        + "<!-- /bench:results -->\n"


def test_report_shows_no_absolute_path_of_the_measuring_machine() -> None:
    md = report.markdown({"settings": {"float_model": "/somewhere/runs/release/model.keras"}})
    assert "Float baseline: release/model.keras." in md and "/somewhere" not in md
    assert machine.shown_path(ROOT / "dist" / "pneumonia-xray") == "dist/pneumonia-xray"
    assert machine.shown_path("relative/name") == "relative/name"


def test_results_json_names_no_absolute_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped results.json: commands and notes carry paths relative to the checkout."""
    import re
    import tempfile

    # A temporary folder of its own: where the checkout itself lies in the temporary folder
    # (a clone in /tmp), the folder beside it and $TMPDIR are the same place and either
    # spelling would be right.
    monkeypatch.setattr(tempfile, "tempdir", str(Path("/nonexistent-bench-tmp")))
    data = ROOT.parent / "shared" / "data" / "chest_xray" / "val" / "a.jpeg"
    cmd = f"{ROOT}/.venv/bin/python -m desktop {data} --csv {tempfile.gettempdir()}/x/one.csv"
    assert machine.portable_text(cmd) == (
        "./.venv/bin/python -m desktop ../shared/data/chest_xray/val/a.jpeg --csv $TMPDIR/x/one.csv")
    text = (ROOT / "bench" / "results.json").read_text(encoding="utf-8")
    absolute = re.findall(r'(?:^|["\s(=])(/[A-Za-z][^"\s)]*)', text, flags=re.M)
    assert not absolute, absolute[:5]


def test_cli_writes_json_and_markdown_with_every_ratio_row(tmp_path: Path) -> None:
    out = tmp_path / "res.json"
    assert main(["--only", "accuracy", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [r["key"] for r in res["ratios"]] == list(report.RATIO_KEYS)
    assert res["accuracy"] == {"status": "needs --run-dir"}
    assert res["machine"]["cores"] >= 1 and res["machine"]["python"]
    assert "| ratio (same run) |" in out.with_suffix(".md").read_text()


@pytest.mark.slow
def test_every_benchmark_returns_sane_numbers_on_a_tiny_workload(tmp_path: Path) -> None:
    tiny = Settings(tflite_runs=5, compiled_runs=3, predict_runs=2, throughput_files=6,
                    throughput_repeats=1, naive_files=2, startup_repeats=1, memory_files=12,
                    memory_gui=False, accuracy_limit=8)
    res = run_all(tiny, MODEL_DIR, None, tmp_path / "no_bundle", tmp_path / "work")
    assert res["errors"] == {}
    inf = res["inference"]
    for key in ("tflite_shipped_1t", "tflite_shipped_2t", "keras_predict", "keras_tf_function"):
        t = inf[key]
        assert _positive(t["median_ms"]) and t["p10_ms"] <= t["median_ms"] <= t["p90_ms"]
    tp = res["throughput"]
    for key in ("decode_only_1t", "app_1t", "decode_only_2t", "app_2t", "naive_keras"):
        assert _positive(tp[key]["images_per_s"]) and tp[key]["images"] > 0
    # the float baseline is the shipped network, not some other model
    assert "NOT the same network" not in res["settings"]["float_model"]
    ratios = {r["key"]: r for r in res["ratios"]}
    assert tuple(ratios) == report.RATIO_KEYS
    assert all(_positive(r["value"]) for r in ratios.values())
    assert ratios["size_float32_over_int8"]["value"] > 1.5  # int8 weights are 4x smaller
    quant = res["quantization"]  # the shipped network again, in the other precision
    assert quant["shipped"] == res["settings"]["quantization"] != quant["other"]
    assert quant["calibration" if quant["other"] == "int8" else "other_how"]
    assert res["startup"]["python_bare"]["ok"] and _positive(res["startup"]["python_bare"]["median_s"])
    # the one-file classify against the bare import pair and against the floor (the model run
    # once by LiteRT on the decoded image, nothing else), all timed in the same rounds
    start = res["startup"]
    assert start["model_floor"]["ok"] and start["first_result_cli"]["ok"], start["model_floor"]
    vs = start["cli_vs_import_pair"]
    assert all(_positive(vs[k]) for k in ("ratio", "floor_ratio", "model_floor_ratio",
                                          "vs_model_floor"))
    assert vs["vs_model_floor"] == pytest.approx(
        start["first_result_cli"]["median_s"] / start["model_floor"]["median_s"], abs=2e-3)
    mem = res["memory"]["headless"]
    assert mem["ok"] and mem["files"] == 12 and mem["classified_ok"] > 0
    assert mem["peak_rss_mb"] >= mem["rss_after_model_load_mb"] > 10
    assert _positive(res["sizes"]["shipped_tflite_mb"]) and res["sizes"]["bundle_mb"] is None
    assert res["accuracy"] == {"status": "needs --run-dir"}
    assert {g["key"] for g in res["goals"]} >= {"throughput", "peak_rss", "window_ready",
                                                "inference_budget", "classify_budget"}
    prof = res["throughput"]["profile"]
    assert _positive(prof["cpu_ms_per_image"])
    assert prof["stages_ms_per_image"]["inference (ModelBundle.predict)"] > 0
    proj = res["projection"]
    if proj.get("status") == "ok":  # the shipped model is not the training default yet
        assert _positive(proj["inference"]["tflite_shipped_1t"]["median_ms"])
        assert _positive(proj["throughput"]["app_2t"]["images_per_s"])
        assert report.projection_rows(res)
    else:
        assert proj["status"].startswith("not needed")
