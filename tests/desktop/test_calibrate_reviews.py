"""Issue 25, item 4: ``calibrate --from-reviews`` fits a site profile from the findings readers
recorded in the review store, through the same pipeline, guard rails and report as a labelled
folder: the same films with the same labels give the same table."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pytest

from desktop import calibrate
from desktop.calibrate_reviews import CHANGED
from desktop.review_store import FlagEntry, ReviewStore
from tests.desktop.test_site_calibrate import TARGET, generated_films

pytestmark = pytest.mark.usefixtures("home")


def record(store: ReviewStore, path: Path, finding: str) -> None:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    store.record_finding(FlagEntry(path=str(path), file_sha256=sha, status="ok",
                                   probability=0.3, prediction="NORMAL", threshold=0.5),
                         False, finding, "", "dr_a")


def calibrate_main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = calibrate.main([*args, "--target-sensitivity", TARGET, "--dry-run"], out, err)
    return code, out.getvalue(), err.getvalue()


def test_calibrate_from_reviews_uses_the_findings_as_labels(tmp_path: Path) -> None:
    root = generated_films(tmp_path / "films", n=50)
    extra = tmp_path / "extra"
    extra.mkdir()
    changed = extra / "changed.jpeg"
    shutil.copy(sorted((root / "NORMAL").iterdir())[0], changed)
    db = tmp_path / "review.sqlite3"
    with ReviewStore(db) as store:
        for label, finding in (("NORMAL", "no_pneumonia"), ("PNEUMONIA", "pneumonia")):
            for p in sorted((root / label).iterdir()):
                record(store, p, finding)
        record(store, changed, "pneumonia")
        unsure = extra / "unsure.jpeg"
        shutil.copy(changed, unsure)
        record(store, unsure, "not_assessable")
    changed.write_bytes(sorted((root / "PNEUMONIA").iterdir())[0].read_bytes())  # replaced

    code, from_reviews, err = calibrate_main("--from-reviews", "--db", str(db))
    assert code == 0, err
    assert "101 labelled film(s)" in err and "(50 NORMAL, 51 PNEUMONIA)" in err
    assert "unsure.jpeg: reader finding 'not assessable' gives no label" in err
    assert f"changed.jpeg: error: {CHANGED}" in err
    code, from_folder, err2 = calibrate_main(str(root))
    assert code == 0, err2
    # the same 100 films with the same labels: the same fit and the same table
    assert from_reviews.splitlines()[1:] == from_folder.splitlines()[1:]
    assert "100 films of review.sqlite3" in from_reviews.splitlines()[0]


def test_from_reviews_and_a_source_are_exclusive(tmp_path: Path) -> None:
    code, _out, _err = calibrate_main()
    assert code == calibrate.EXIT_USAGE
    code, _out, _err = calibrate_main(str(tmp_path), "--from-reviews")
    assert code == calibrate.EXIT_USAGE
    code, _out, err = calibrate_main("--from-reviews", "--db", str(tmp_path / "none.sqlite3"))
    assert code == calibrate.EXIT_USAGE and "no data file" in err
