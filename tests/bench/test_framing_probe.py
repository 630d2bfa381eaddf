"""bench.framing_probe: a cropped field (tighter framing) against the same film uncropped."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import framing_probe as fp
from bench import member_suite
from bench import shift_suite as ss
from tests.conftest import synthetic_xray


def test_cropped_cuts_the_fraction_from_every_side() -> None:
    img = np.arange(100 * 200, dtype=np.float32).reshape(100, 200)
    out = fp.cropped(img, 0.1)
    assert out.shape == (80, 160) and out[0, 0] == img[10, 20]
    assert np.array_equal(fp.cropped(img, 0.0), img)
    with pytest.raises(ValueError, match="crop fraction"):
        fp.cropped(img, 0.5)


def test_summarise_reports_each_class_change_against_the_uncropped_film() -> None:
    labels = np.array([0, 0, 1, 1])
    # per film: uncropped, crop a, crop b; normal films rise with the crop, pneumonia ones do not
    z = np.array([[-2.0, -1.0, 0.0], [-3.0, -2.0, -1.5], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    rows = fp.summarise(z.ravel(), labels, (0.05, 0.1))
    assert [r["crop"] for r in rows] == [0.0, 0.05, 0.1]
    assert rows[0]["delta_normal"] == 0 and rows[1]["delta_normal"] == pytest.approx(1.0)
    assert rows[2]["delta_normal"] == pytest.approx(1.75)
    assert rows[2]["delta_pneumonia"] == 0 and rows[2]["roc_auc"] == 1.0


def test_command_scores_each_crop_of_each_film(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from pneumonia_core.imageio import load_image

    root = tmp_path / "films"
    for label in ("NORMAL", "PNEUMONIA"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            gray = synthetic_xray(7 + i, size=(300, 260), pneumonia=label == "PNEUMONIA")
            Image.fromarray(gray).save(root / label / f"{label}_{i}.png")
    seen: list[np.ndarray] = []

    def fake_logits(run_dir: str, x: np.ndarray) -> np.ndarray:
        seen.append(x)
        return x.reshape(len(x), -1).mean(axis=1)

    monkeypatch.setattr(member_suite, "keras_logits", fake_logits)
    out = tmp_path / "framing.json"
    with redirect_stdout(io.StringIO()) as buf:
        assert fp.main(["--data", str(root), "--run", "R=run", "--crops", "0.1,0.2",
                        "--json", str(out)]) == 0
    x = seen[0]
    assert x.shape == (4 * 3, 224, 224)
    # the uncropped row is what the app reads from the suite's working image as a PNG
    first = ss.list_films([root])[0][0]
    f = tmp_path / "plain.png"
    f.write_bytes(ss.encode(ss.load_working(Path(first)), "png8"))
    assert np.array_equal(x[0], load_image(f, 224))
    assert not np.array_equal(x[0], x[1])  # the crop changed the input
    res = json.loads(out.read_text())
    assert [r["crop"] for r in res["results"]["R"]] == [0.0, 0.1, 0.2]
    assert "| R | 0.20 |" in buf.getvalue()
    with pytest.raises(SystemExit):
        fp.main(["--data", str(root), "--run", "R=run", "--crops", "0.6"])
