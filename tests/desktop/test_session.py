"""The reading session without a window: one operating point, rows re-decided in place from
their logits (no file read, no classification), one decode per selected film, the user's
threshold dropped when the calibration changes, and the pipeline's feature-distance guard."""

from __future__ import annotations

import builtins
import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import pytest

from desktop import jobs, site_config
from desktop import session as session_mod
from desktop.audit import AuditLog
from desktop.jobs import sync_flags
from desktop.session import ReadingSession
from desktop.settings import Settings
from pneumonia_core import pipeline
from pneumonia_core import site_profile as sp
from pneumonia_core.model import ModelBundle
from tests.conftest import MODEL_DIR
from tests.desktop.test_site_calibrate import generated_films

pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.load(MODEL_DIR)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = generated_films(tmp_path_factory.mktemp("study"), n=5)
    return sorted(root.rglob("*.jpeg"))


def open_session(bundle: ModelBundle, study: list[Path], **kw: object) -> ReadingSession:
    """A session with the study classified into it (as the window's batch does)."""
    s = ReadingSession(bundle, Settings.load(), **kw)
    for event in jobs.classified(jobs.classify_job([str(p) for p in study], bundle, s.point,
                                                    s.storage.db)):
        s.add_rows([event.row])
    assert len(s.results) == len(study)
    return s


class FileReads:
    """Counts every open of a file under ``root`` (builtins/io/os open)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = str(root)
        self.paths: list[str] = []
        for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name)))

    def _wrap(self, real):  # noqa: ANN001, ANN202
        def counted(file, *args, **kwargs):  # noqa: ANN001, ANN202
            if isinstance(file, (str, os.PathLike)) and os.fspath(file).startswith(self.root):
                self.paths.append(os.fspath(file))
            return real(file, *args, **kwargs)
        return counted


def no_classification(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("classified again")
    monkeypatch.setattr(pipeline, "classify_bytes", refuse)
    monkeypatch.setattr(jobs, "classify_bytes", refuse)


def test_profile_import_and_revert_redecide_in_place_without_reading_a_file(
        bundle, study, profile, monkeypatch):
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    s = open_session(bundle, study, cli_threshold=0.9)
    s.settings.threshold_override = 0.2
    s.settings.save()
    reads = FileReads(study[0].parent.parent, monkeypatch)
    no_classification(monkeypatch)
    prof = sp.load_profile(profile)
    change = s.import_profile(str(profile))
    assert reads.paths == []  # not one film was opened
    # the calibration changed: your threshold and --threshold were chosen on the other one
    assert s.settings.threshold_override is None and s.cli_threshold is None
    assert Settings.load().threshold_override is None
    assert "your threshold override was removed" in change.event.note
    assert s.point.source == "site profile, imported by you"
    for r in s.results.rows:
        assert r.threshold == prof.threshold
        assert r.probability == pytest.approx(prof.operating_point(
            bundle.metadata.labels, bundle.metadata.positive_label, "x").probability(r.logit))
        assert r.flagged == (r.probability >= prof.threshold)
    assert change.rows  # the probabilities moved
    back = s.revert_profile()
    assert reads.paths == []
    model = bundle.operating_point
    assert s.point.source == "model default" and s.threshold == model.threshold
    assert all(r.threshold == model.threshold and r.probability == pytest.approx(
        model.probability(r.logit)) for r in s.results.rows)
    assert back.event.action == session_mod.ACTION_SITE_REVERT
    from pneumonia_core.imageio import read_file_bytes

    read_file_bytes(study[0])  # the counter sees the app's own way of reading a film
    assert reads.paths == [str(study[0])]
    s.close()


def test_threshold_change_redecides_every_row_and_is_audited(bundle, study, monkeypatch):
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    s = open_session(bundle, study)
    reads = FileReads(study[0].parent.parent, monkeypatch)
    no_classification(monkeypatch)
    probs = sorted(r.probability for r in s.results.rows)
    middle = (probs[len(probs) // 2 - 1] + probs[len(probs) // 2]) / 2
    change = s.set_threshold(middle)
    assert reads.paths == []
    assert s.point.source == "your setting" and Settings.load().threshold_override == middle
    assert all(r.threshold == middle for r in s.results.rows)  # every row, not only flips
    assert s.results.counts().flagged == sum(p >= middle for p in probs)
    assert {r.path for r in change.rows} <= {r.path for r in s.results.rows}
    sync_flags(change.rows, change.event, s.model_sha256, s.storage.db)
    flagged = {r.path for r in s.results.rows if r.flagged}
    assert {e.path for e in s.storage.store.entries()} == flagged
    with AuditLog(s.storage.db) as log:
        last = log.all()[-1]
    assert last.action == "threshold" and last.threshold == middle
    assert last.decision == "your setting"
    s.set_threshold(None)
    assert s.point.source == "model default" and Settings.load().threshold_override is None
    s.close()


def test_rows_of_a_batch_started_before_a_change_arrive_at_the_new_point(bundle, study,
                                                                         monkeypatch):
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    s = open_session(bundle, study[:2])
    old = s.point
    late = [dataclasses.replace(r, path=r.path + ".late") for r in s.results.rows]
    for r in late:
        r.redecide(old)
    s.set_threshold(0.999)
    s.add_rows(late)
    assert all(r.threshold == 0.999 and not r.flagged for r in s.results.rows)
    s.close()


def test_one_decode_per_selection_and_the_heatmap_comes_from_the_row(bundle, study,
                                                                     monkeypatch):
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    s = open_session(bundle, study[:2])
    no_classification(monkeypatch)
    decodes: list[str] = []
    real = jobs.decode_bytes
    monkeypatch.setattr(jobs, "decode_bytes", lambda data, **kw: decodes.append("x") or
                        real(data, **kw))
    path = s.results.rows[0].path
    preview = s.load_preview(path)
    s.keep_preview(preview)
    assert decodes == ["x"] and preview.error == ""
    np.testing.assert_array_equal(preview.cam, s.results.rows[0].cam)
    assert s.cached_preview(path) is preview and decodes == ["x"]  # selected again: cached
    s.close()


def test_the_pipeline_asks_the_feature_distance_guard(bundle, study, monkeypatch):
    """A film whose features lie far from the training films is refused as out of scope."""
    assert len(bundle.metadata.scope.get("embedding_mean", [])), "the shipped model has feature stats"
    real = bundle.predict

    def far(gray):  # noqa: ANN001, ANN202
        pred = real(gray)
        return dataclasses.replace(pred, embedding=pred.embedding + 1e3)

    monkeypatch.setattr(bundle, "predict", far)
    result = pipeline.classify_file(study[0], bundle)
    assert result.status == pipeline.STATUS_OUT_OF_SCOPE and "feature distance" in result.message
