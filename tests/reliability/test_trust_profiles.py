"""Issue 23, reproductions 1 and 4: a forged site profile never passes as genuine, and no
output path (``calibrate --out`` and its plots, exports, signatures) replaces a file it must
not. Each test goes through the real command (``classify``, ``calibrate``, ``profile``,
``--self-test``) or the Qt-free logic the window calls."""

from __future__ import annotations

import io
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop import calibrate, cli, profile_cli, site_config
from desktop import profile_authority as pa
from desktop.machine_config import MACHINE_CONFIG_ENV
from pneumonia_core import profile_bounds
from pneumonia_core import site_profile as sp
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.metadata import ModelMetadata
from tests.conftest import MODEL_DIR, synthetic_xray

pytestmark = pytest.mark.usefixtures("home")

SHA = ModelMetadata.load(MODEL_DIR).sha256


@pytest.fixture(autouse=True)
def machine_dir(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty machine configuration folder and no machine-wide profile (after ``home``,
    which sets its own)."""
    d = tmp_path / "machine"
    monkeypatch.setenv(MACHINE_CONFIG_ENV, str(d))
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    monkeypatch.setattr(site_config, "default_bundle_profile", lambda: tmp_path / "no.json")
    return d


def genuine_text(seed: int = 0) -> str:
    """A profile as ``calibrate`` would write it for the shipped model (fitted on logits of
    a site whose pneumonia films score high)."""
    rng = np.random.default_rng(seed)
    z = np.r_[rng.normal(-1.0, 2.0, 120), rng.normal(4.0, 2.0, 200)]
    y = np.r_[np.zeros(120, int), np.ones(200, int)]
    fit = sp.fit_site(z, y, OperatingPoint(0.5), target_sensitivity=0.98)
    return sp.seal(sp.profile_body(fit, SHA, "m", "1", "0.1.0", "films", []))


def forged_text() -> str:
    """Reproduction 1: threshold 0.999, scale 0.001, and invented statistics, resealed."""
    data = json.loads(genuine_text())
    data.pop("sha256")
    data["calibration"].update(scale=0.001, offset=0.0)
    data["threshold"].update(value=0.999, sensitivity=1.0)
    data["films"].update(n=5000)
    data["report"]["after"]["sensitivity"]["value"] = 1.0
    return sp.seal(data)


def pneumonia_films(folder: Path, n: int = 8) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(synthetic_xray(900 + i, pneumonia=True)).save(folder / f"p{i}.png")
    return folder


def run(main, args: list[str]) -> tuple[int, str, str]:  # noqa: ANN001
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# -- 1. profiles with authority ---------------------------------------------------------------
def test_genuine_profile_is_plausible() -> None:
    prof = sp.parse_profile(genuine_text(), SHA)
    assert profile_bounds.pinned_reference_logits(SHA), "the shipped model has a pinned film"
    assert 0 < prof.threshold < 1


def test_forged_resealed_profile_is_refused_by_classify(tmp_path: Path) -> None:
    forged = tmp_path / "forged.json"
    forged.write_text(forged_text())
    films = pneumonia_films(tmp_path / "films")
    csv = tmp_path / "o.csv"
    code, _, err = run(cli.main, ["classify", str(films), "--csv", str(csv),
                                  "--site-profile", str(forged)])
    assert code == cli.EXIT_MODEL and not csv.exists()
    assert "implausible" in err and "scale 0.001" in err and "threshold 0.999" in err
    assert "pinned pneumonia reference film" in err
    assert "film counts do not add up" in err


@pytest.mark.parametrize("change, needle", [
    ({"calibration": {"scale": 500.0}}, "scale 500"),
    ({"calibration": {"offset": -40.0}}, "offset -40"),
    ({"threshold": {"target_sensitivity": 0.5}}, "target sensitivity 0.5"),
    ({"report": {"after": {"tp": 1}}}, "confusion counts"),
])
def test_each_bound_is_checked(change: dict, needle: str) -> None:
    data = json.loads(genuine_text())
    data.pop("sha256")
    for key, sub in change.items():
        for k, v in sub.items():
            if isinstance(v, dict):
                data[key][k].update(v)
            else:
                data[key][k] = v
    with pytest.raises(sp.SiteProfileError, match="implausible") as exc:
        sp.parse_profile(sp.seal(data), SHA)
    assert needle in str(exc.value)


def test_a_machine_profile_that_clears_the_reference_film_is_refused_visibly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within every static bound, but its threshold sits above the pinned pneumonia film."""
    data = json.loads(genuine_text())
    data.pop("sha256")
    z_ref = profile_bounds.pinned_reference_logits(SHA)[0]
    data["calibration"].update(scale=1.0, offset=-z_ref)  # the reference film at P = 0.5
    data["threshold"]["value"] = 0.6
    machine = tmp_path / "machine.json"
    machine.write_text(sp.seal(data))
    monkeypatch.setenv(site_config.MACHINE_ENV, str(machine))
    code, out, err = run(cli.main, ["--self-test"])
    assert code == 1 and "pinned pneumonia reference film" in err


def test_signed_profiles_keygen_sign_verify_and_refusals(
        tmp_path: Path, machine_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    it = tmp_path / "it"
    it.mkdir()
    code, out, err = run(profile_cli.main, ["keygen", "--out", str(it / "site")])
    assert code == 0, err
    assert stat.S_IMODE(os.stat(it / "site.key").st_mode) == 0o600
    assert run(profile_cli.main, ["keygen", "--out", str(it / "site")])[0] == 2  # never replaced
    profile = tmp_path / "site_profile.json"
    profile.write_text(genuine_text())
    # no trusted keys: accepted, and said to be unsigned
    monkeypatch.setenv(site_config.MACHINE_ENV, str(profile))
    active = site_config.resolve(SHA)
    assert active.profile is not None and "unsigned" in active.describe()
    # IT trusts its key: the unsigned profile is refused (window, classify, self-test alike)
    (machine_dir / pa.TRUSTED_KEYS).mkdir(parents=True)
    (machine_dir / pa.TRUSTED_KEYS / "site.pub").write_bytes((it / "site.pub").read_bytes())
    active = site_config.resolve(SHA)
    assert active.profile is None and "is not signed" in active.problem
    code, _, err = run(cli.main, ["--self-test"])
    assert code == 1 and "is not signed" in err
    # signed: accepted, and the origin line says by which key
    code, out, err = run(profile_cli.main, ["sign", "--key", str(it / "site.key"), str(profile)])
    assert code == 0, err
    active = site_config.resolve(SHA)
    assert active.profile is not None and "signed by trusted key" in active.describe()
    assert run(profile_cli.main, ["verify", str(profile)])[0] == 0
    # edited after signing, resealed: the SHA-256 matches again, the signature does not
    data = json.loads(profile.read_text())
    data.pop("sha256")
    data["created"] = "2020-01-01T00:00:00Z"
    profile.write_text(sp.seal(data))
    active = site_config.resolve(SHA)
    assert active.profile is None and "does not match its content" in active.problem
    code, _, err = run(profile_cli.main, ["verify", str(profile)])
    assert code == 1 and "does not match" in err
    # signed by another key (made by whoever can write the file): refused
    run(profile_cli.main, ["keygen", "--out", str(tmp_path / "mallory")])
    run(profile_cli.main, ["sign", "--key", str(tmp_path / "mallory.key"), str(profile)])
    active = site_config.resolve(SHA)
    assert active.profile is None and "does not trust" in active.problem
    code, _, err = run(cli.main, ["classify", str(pneumonia_films(tmp_path / "f", 1)), "--csv",
                                  str(tmp_path / "o.csv"), "--site-profile", str(profile)])
    assert code == cli.EXIT_MODEL and "does not trust" in err


def test_unreadable_trusted_key_fails_closed(tmp_path: Path, machine_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (machine_dir / pa.TRUSTED_KEYS).mkdir(parents=True)
    (machine_dir / pa.TRUSTED_KEYS / "broken.pub").write_text("not a key")
    profile = tmp_path / "p.json"
    profile.write_text(genuine_text())
    monkeypatch.setenv(site_config.MACHINE_ENV, str(profile))
    active = site_config.resolve(SHA)
    assert active.profile is None and "requires signed profiles" in active.problem


def test_a_profile_dropped_into_the_user_folder_is_not_called_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = tmp_path / "machine.json"
    machine.write_text(genuine_text(1))
    monkeypatch.setenv(site_config.MACHINE_ENV, str(machine))
    dropped = site_config.user_profile_path()
    dropped.parent.mkdir(parents=True, exist_ok=True)
    dropped.write_text(genuine_text(2))
    active = site_config.resolve(SHA)
    assert active.origin == pa.ORIGIN_UNRECORDED
    assert "imported by you" not in active.describe()
    assert "not imported" in active.source and "overrides the machine-wide profile" in \
        active.describe()
    code, _, err = run(cli.main, ["classify", str(pneumonia_films(tmp_path / "f", 1)), "--csv",
                                  str(tmp_path / "o.csv")])
    assert "not imported" in err and "overrides the machine-wide" in err
    # imported through the app: now it is "imported by you"
    src = tmp_path / "src.json"
    src.write_text(genuine_text(3))
    site_config.import_profile(src, SHA)
    assert site_config.resolve(SHA).source == "site profile, imported by you"
    # replaced by hand afterwards: the record no longer matches
    dropped.write_text(genuine_text(2))
    assert site_config.resolve(SHA).origin == pa.ORIGIN_UNRECORDED


# -- 4. every output path is safe -------------------------------------------------------------
@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cal")
    for label, pneu in (("NORMAL", False), ("PNEUMONIA", True)):
        (root / label).mkdir()
        for i in range(3):
            Image.fromarray(synthetic_xray(40 + i, pneumonia=pneu)).save(root / label / f"{i}.png")
    return root


@pytest.mark.parametrize("what", ["input_film", "text_file", "device", "plot_is_text"])
def test_calibrate_out_never_replaces_what_it_must_not(labelled: Path, tmp_path: Path,
                                                       what: str) -> None:
    film = labelled / "NORMAL" / "0.png"
    text = tmp_path / "notes.json"
    text.write_text("my notes, not a profile\n")
    target = {"input_film": film, "text_file": text, "device": Path(os.devnull),
              "plot_is_text": tmp_path / "p.json"}[what]
    if what == "plot_is_text":
        sp.plot_paths(target)[0].write_text("not a picture")
    before = {p: p.read_bytes() for p in (film, text)}
    code, _, err = run(calibrate.main, [str(labelled), "--out", str(target), "--force",
                                        "--target-sensitivity", "0.98"])
    assert code == calibrate.EXIT_USAGE, err
    assert "Nothing was written" in err or "not a regular file" in err
    assert {p: p.read_bytes() for p in (film, text)} == before
    assert not stat.S_ISREG(os.stat(os.devnull).st_mode)
    assert not list(tmp_path.glob("*.png")) or what == "plot_is_text"


def test_exports_follow_the_same_rule(tmp_path: Path) -> None:
    from desktop.audit import AuditEvent, AuditLog
    from desktop.safe_output import OutputError

    db = tmp_path / "data.sqlite3"
    doc = tmp_path / "report.txt"
    doc.write_bytes(b"%PDF-1.7 not a csv")
    with AuditLog(db) as log:
        log.append(AuditEvent(action="export"))
        with pytest.raises(OutputError, match="is not a CSV"):
            log.export_csv(doc)
        with pytest.raises(OutputError, match="not a regular file"):
            log.export_csv(os.devnull)
        with pytest.raises(OutputError):
            log.export_csv(db)
    assert doc.read_bytes() == b"%PDF-1.7 not a csv"


def test_reference_film_check_gives_way_only_to_a_recorded_other_equipment_site() -> None:
    """The pinned reference film bounds a profile's boundary, except where the profile's site
    guard records that the model's guard refused at least half of the site's films (issue 21:
    other equipment moves every score); a guard record of a minority does not lift it."""
    from pneumonia_core import profile_bounds
    from pneumonia_core.metadata import ModelMetadata
    from pneumonia_core.profile_bounds import problems
    from tests.conftest import MODEL_DIR

    meta = ModelMetadata.load(MODEL_DIR)
    sha = meta.sha256
    (z_ref,) = profile_bounds.pinned_reference_logits(sha)
    # the reference is a film the model, with its own calibration, reads at P 0.99
    assert meta.operating_point().probability(z_ref) == pytest.approx(
        profile_bounds.REFERENCE_PROBABILITY)
    data = json.loads(forged_text())
    data["calibration"].update(scale=1.0, offset=0.0)
    # inside the threshold range, its boundary just above the reference film
    data["threshold"]["value"] = 1.0 / (1.0 + math.exp(-(z_ref + 0.2)))
    assert any("reference film" in p for p in problems(data, sha))
    n = int(data["films"]["n"])
    data["guard"] = {"default_refused": n // 2 - 1}
    assert any("reference film" in p for p in problems(data, sha))
    data["guard"] = {"default_refused": (n + 1) // 2}
    assert not any("reference film" in p for p in problems(data, sha))
