"""The shipped model folder is pinned into the app (pneumonia_core/pinned_model.py) and verified as
a whole; any other folder runs only as an unverified model (issue 16)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from pneumonia_core import integrity
from pneumonia_core.builtin_image import SELF_TEST_TOLERANCE, predict_builtin
from pneumonia_core.integrity import (
    Pin,
    build_pin,
    digest_of,
    folder_files,
    shipped_model_dir,
    verify_folder,
)
from pneumonia_core.metadata import METADATA_FILE, sha256_bytes
from pneumonia_core.model import ModelBundle, ModelError

pytestmark = pytest.mark.timeout(180)

SHIPPED = shipped_model_dir()


def test_the_shipped_folder_and_the_pin_agree() -> None:
    """Change resources/model or the pin alone and this fails: re-pin with
    `python -m converter.pin` (docs/model-integrity.md)."""
    from converter.pin import pin_problems

    pin = build_pin()
    assert pin is not None, "pneumonia_core/pinned_model.py is missing"
    assert pin_problems(SHIPPED) == []
    files = folder_files(SHIPPED)
    assert files == pin.files and digest_of(files) == pin.folder_digest
    assert {"model.tflite", "metadata.json"} <= set(files)
    meta = json.loads((SHIPPED / METADATA_FILE).read_text())
    assert pin.model_sha256 == meta["sha256"] == files[meta["file"]]


def test_the_pinned_self_test_probability_is_the_shipped_models() -> None:
    pin = build_pin()
    bundle = ModelBundle.load(SHIPPED)
    assert bundle.verified and bundle.folder_digest == pin.folder_digest
    assert pin.self_test_probability is not None
    p = predict_builtin(bundle).probability
    assert abs(p - pin.self_test_probability) <= SELF_TEST_TOLERANCE / 10


def test_the_pin_ships_in_the_bundle() -> None:
    spec = (SHIPPED.parent.parent / "build.spec").read_text()
    assert '"pneumonia_core.pinned_model"' in spec and '"resources/model"' in spec


def test_an_identical_copy_is_verified_and_an_edited_copy_is_not(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(SHIPPED, copy)
    assert ModelBundle.load(copy).verified
    meta = json.loads((copy / METADATA_FILE).read_text())
    meta["threshold"]["value"] = 0.99
    (copy / METADATA_FILE).write_text(json.dumps(meta))
    bundle = ModelBundle.load(copy)
    assert not bundle.verified
    assert bundle.folder_digest != build_pin().folder_digest
    assert "metadata.json" in bundle.verification.reason
    assert "UNVERIFIED" in bundle.verification.describe()


@pytest.mark.parametrize("edit", ["metadata", "card", "added file", "removed plot"])
def test_an_edited_shipped_folder_is_refused_as_tampered(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         edit: str) -> None:
    shipped = tmp_path / "resources" / "model"
    shutil.copytree(SHIPPED, shipped)
    monkeypatch.setattr(integrity, "shipped_model_dir", lambda: shipped)
    assert ModelBundle.load(shipped).verified  # untouched: still the pinned folder
    if edit == "metadata":
        meta = json.loads((shipped / METADATA_FILE).read_text())
        meta["threshold"]["value"] = 0.99
        (shipped / METADATA_FILE).write_text(json.dumps(meta))
    elif edit == "card":
        with open(shipped / "MODEL_CARD.md", "a") as fh:
            fh.write("\nedited\n")
    elif edit == "added file":
        (shipped / "extra.json").write_text("{}")
    else:
        next((shipped / "plots").glob("*.png")).unlink()
    with pytest.raises(ModelError, match=r"model folder was altered.*Reinstall"):
        ModelBundle.load(shipped)


def test_model_bytes_flipped_with_updated_sha_in_the_shipped_folder_is_tampered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = tmp_path / "model"
    flipped_weight_copy(shipped)
    monkeypatch.setattr(integrity, "shipped_model_dir", lambda: shipped)
    with pytest.raises(ModelError, match=r"altered: changed: metadata.json, model.tflite"):
        ModelBundle.load(shipped)


def flipped_weight_copy(dest: Path) -> Path:
    """A copy of the shipped folder with one model byte flipped and metadata's sha256 updated
    (the first flip from the middle that LiteRT still loads)."""
    shutil.copytree(SHIPPED, dest)
    meta = json.loads((dest / METADATA_FILE).read_text())
    original = (SHIPPED / meta["file"]).read_bytes()
    for offset in range(len(original) // 2, len(original) // 2 + 64):
        data = bytearray(original)
        data[offset] ^= 0x01
        (dest / meta["file"]).write_bytes(bytes(data))
        meta["sha256"] = sha256_bytes(bytes(data))
        (dest / METADATA_FILE).write_text(json.dumps(meta))
        try:
            ModelBundle.load(dest, pin=Pin("0" * 64))
        except ModelError:
            continue
        return dest
    raise AssertionError("no loadable one-byte flip found")


def run_cli(args: list[str]) -> tuple[int, str, str]:
    from desktop import cli

    out, err = io.StringIO(), io.StringIO()
    code = cli.main(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_self_test_refuses_a_flipped_weight_byte_with_updated_sha(tmp_path: Path) -> None:
    bad = flipped_weight_copy(tmp_path / "model")
    assert ModelBundle.load(bad).verified is False  # loads (as before), but unverified
    code, out, err = run_cli(["--self-test", "--model-dir", str(bad)])
    assert code == 1 and out == ""
    assert err.startswith("SELF-TEST FAILED: model: ")
    assert "not the model this app was built with" in err and "P=" in err


def test_self_test_fails_when_the_model_scores_its_film_differently(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime (or model) that computes something else fails, even when the folder verifies."""
    real = build_pin()
    wrong = Pin(real.folder_digest, real.files, real.model_sha256,
                real.self_test_probability + 0.2)
    monkeypatch.setattr(integrity, "build_pin", lambda: wrong)
    code, out, err = run_cli(["--self-test", "--model-dir", str(SHIPPED)])
    assert code == 1 and out == ""
    assert "built-in film scored P=" in err and "the shipped model gives" in err


def test_self_test_ok_says_the_folder_is_pinned() -> None:
    code, out, err = run_cli(["--self-test", "--model-dir", str(SHIPPED)])
    assert code == 0, err
    assert f"folder {build_pin().folder_digest[:12]}" in out and "as pinned" in out


def test_version_says_verified_or_unverified(tmp_path: Path) -> None:
    code, out, _ = run_cli(["--version", "--model-dir", str(SHIPPED)])
    assert code == 0 and "verified model folder" in out and "UNVERIFIED" not in out
    bad = flipped_weight_copy(tmp_path / "model")
    code, out, _ = run_cli(["--version", "--model-dir", str(bad)])
    assert code == 0 and "UNVERIFIED model folder" in out


def test_classify_with_an_unverified_model_says_so_and_the_audit_records_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from desktop.audit import AuditLog
    from desktop.jobs import classified, classify_job
    from tests.conftest import synthetic_xray

    bad = flipped_weight_copy(tmp_path / "model")
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(synthetic_xray(3)).save(images / "a.png")
    code, _, err = run_cli(["classify", str(images), "--csv", str(tmp_path / "o.csv"),
                            "--model-dir", str(bad)])
    from desktop import cli

    assert code == cli.EXIT_UNVERIFIED  # issue 23: impossible to miss in a script too
    assert err.rstrip().splitlines()[-1].startswith("model: UNVERIFIED MODEL")
    with open(tmp_path / "o.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["model"] for r in rows} == {
        f"UNVERIFIED model folder {verify_folder(bad).folder_digest[:12]}"}
    code, _, err = run_cli(["classify", str(images), "--csv", str(tmp_path / "o.csv"),
                            "--model-dir", str(SHIPPED)])
    assert code == 0 and "UNVERIFIED" not in err and err.rstrip().endswith("model: verified")
    with open(tmp_path / "o.csv", newline="") as fh:
        assert {r["model"] for r in csv.DictReader(fh)} == {"verified"}

    for folder, verified in ((bad, 0), (SHIPPED, 1)):
        bundle = ModelBundle.load(folder)
        db = tmp_path / f"data{verified}.sqlite3"
        events = list(classify_job([images], bundle, 0.5, db))
        assert len(list(classified(events))) == 1
        with AuditLog(db) as log:
            (event,) = [e for e in log.all() if e.action == "classify"]
        assert event.details["model_folder_sha256"] == verify_folder(folder).folder_digest
        assert event.details["model_verified"] is bool(verified)
        assert event.model_sha256 == bundle.metadata.sha256


@pytest.mark.parametrize("swapped", ["metadata.json", "model.tflite"])
def test_a_file_swapped_after_hashing_is_not_run_under_the_verdict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swapped: str) -> None:
    """The bytes the model runs from are the bytes that were verified: the metadata read
    again is checked against its digest; the model file is not read again at all (the
    interpreter gets the very bytes that were hashed), so a swap on disk changes nothing."""
    from pneumonia_core import model

    copy = tmp_path / "model"
    shutil.copytree(SHIPPED, copy)
    original = (copy / swapped).read_bytes()
    real = model.verify_folder

    def verify_then_swap(folder, pin=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        verdict = real(folder, pin, **kwargs)
        target = Path(folder) / swapped
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        return verdict

    assert ModelBundle.load(copy).verified
    monkeypatch.setattr(model, "verify_folder", verify_then_swap)
    if swapped == "metadata.json":
        with pytest.raises(ModelError, match=f"{swapped} in the model folder changed while"):
            ModelBundle.load(copy)
        return
    bundle = ModelBundle.load(copy)
    assert bundle.verified and bundle._bytes == original
    assert (copy / swapped).read_bytes() != original


def test_writing_the_pin_updates_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    """A refit that re-pins and then loads the folder in the same process (scripts/
    refit_scope.py) sees the new pin, not the one imported at start."""
    import sys
    import types

    import converter.pin as cp
    from pneumonia_core.integrity import build_pin

    target = tmp_path / "pinned_model.py"
    target.write_text(cp.PIN_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    module = types.ModuleType("pneumonia_core.pinned_model")
    module.__file__ = str(target)  # the module loaded from the file that write_pin rewrites
    exec(compile(target.read_text(encoding="utf-8"), str(target), "exec"), module.__dict__)
    monkeypatch.setattr(cp, "PIN_FILE", target)
    monkeypatch.setitem(sys.modules, "pneumonia_core.pinned_model", module)
    import pneumonia_core

    monkeypatch.setattr(pneumonia_core, "pinned_model", module, raising=False)
    copy = tmp_path / "model"
    shutil.copytree(SHIPPED, copy)
    (copy / "recipe.json").write_text((copy / "recipe.json").read_text() + " ")
    before = build_pin().folder_digest
    pin = cp.write_pin(copy, target)
    assert pin.folder_digest != before
    assert build_pin().folder_digest == pin.folder_digest
