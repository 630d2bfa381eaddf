"""Issue 14, item 4: one probability/threshold format, plain-language status words, and a
colour-blind-safe palette where colour never carries meaning alone."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from desktop import presentation as pres
from desktop.jobs import ResultRow
from desktop.presentation import format_probability, format_threshold
from desktop.qt.panels import ResultPanel
from desktop.qt.table_models import ResultTableModel
from pneumonia_core.decision import OperatingPoint


@pytest.mark.parametrize(("p", "text"), [
    (0.0, "< 1%"), (0.004, "< 1%"), (0.0099, "< 1%"), (0.01, "1.0%"), (0.352, "35.2%"),
    (0.99, "99.0%"), (0.9901, "> 99%"), (1.0, "> 99%"), (None, "")])
def test_probability_never_reads_as_certainty(p, text):
    assert format_probability(p) == text


def test_a_probability_near_the_threshold_never_reads_equal_to_it():
    assert format_probability(0.3519, versus=0.352) == "35.19%"
    assert format_probability(0.35195, versus=0.352) == "35.195%"
    assert format_threshold(0.352) == "35.2%"
    assert format_probability(0.352, versus=0.352) == "35.2%"  # equal reads equal
    assert format_probability(0.4, versus=0.352) == "40.0%"


def test_one_threshold_format():
    assert format_threshold(0.352) == "35.2%"
    assert format_threshold(0.35) == "35.0%"


def test_status_words_are_plain_language():
    assert pres.status_text("ok") == "classified"
    assert pres.status_text("error") == "could not read"
    assert pres.status_text("out_of_scope") == "not a chest X-ray"
    assert "ok" not in pres.finding_text("ok", "PNEUMONIA", True)


def _simulate_deuteranopia(rgb):
    """Viénot/Brettel-style deuteranope simulation matrix on linear RGB."""
    lin = (np.asarray(rgb, float) / 255.0) ** 2.2
    m = np.array([[0.29275, 0.70725, 0.0], [0.29275, 0.70725, 0.0], [-0.02234, 0.02234, 1.0]])
    return (np.clip(m @ lin, 0, 1) ** (1 / 2.2)) * 255.0


def test_flagged_negative_and_unreadable_colours_stay_apart_under_deuteranopia():
    cols = [pres.POSITIVE_RGB, pres.NEGATIVE_RGB, pres.UNASSESSED_RGB]
    sim = [_simulate_deuteranopia(c) for c in cols]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.linalg.norm(sim[i] - sim[j]) > 60, (cols[i], cols[j])
    # the old red flag and amber warning collapsed onto each other
    assert np.linalg.norm(_simulate_deuteranopia((190, 40, 40))
                          - _simulate_deuteranopia((160, 100, 0))) < 40


def test_every_coloured_finding_also_has_a_symbol_and_words(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    m = ResultTableModel(owner)
    m.append_rows([ResultRow("/d/a.png", "ok", 0.9999, "PNEUMONIA", "", "a", 0.35, True),
                   ResultRow("/d/b.png", "ok", 0.0001, "NORMAL", "", "b", 0.35, False),
                   ResultRow("/d/c.png", "error", None, "", "bad", "c", 0.35, True),
                   ResultRow("/d/d.png", "out_of_scope", None, "", "photo", "d", 0.35, True)])
    texts = [m.index(i, 2).data() for i in range(4)]
    assert texts == ["▲ PNEUMONIA", "○ NORMAL", "⚠ could not read", "⚠ not a chest X-ray"]
    assert [m.index(i, 1).data() for i in range(2)] == ["> 99%", "< 1%"]
    assert [m.index(i, 3).data() for i in range(4)] == [
        "classified", "classified", "could not read", "not a chest X-ray"]
    colours = {m.index(i, 2).data(Qt.ItemDataRole.ForegroundRole).color().name()
               for i in range(4)}
    assert len(colours) == 3  # positive, negative, unassessed


def test_result_panel_uses_the_one_format_and_elides_long_errors(qtbot):
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.show_row(None, OperatingPoint(0.352))
    assert panel.bar.threshold == 0.352  # no "threshold 50%" default with nothing selected
    panel.show_row(ResultRow("/d/a.png", "ok", 1.0, "PNEUMONIA", "", "a", 0.352, True), OperatingPoint(0.352))
    text = panel.probability_label.text()
    assert "> 99%" in text and "35.2%" in text and "100" not in text
    assert re.findall(r"\d+\.\d+%", text) == ["35.2%"]
    raw = "Cannot decode: " + "x" * 5000
    panel.show_row(ResultRow("/d/b.png", "error", None, "", raw, "b", 0.352, True), OperatingPoint(0.352))
    assert len(panel.message_label.text()) <= 240
    assert panel.message_label.toolTip() == raw
    assert panel.prediction_label.text() == "⚠ could not read"


def test_threshold_dialog_uses_the_one_format_and_ok_without_edit_changes_nothing(qtbot):
    from desktop.qt.dialogs import ThresholdDialog

    d = ThresholdDialog(0.35237, 0.35237)
    qtbot.addWidget(d)
    assert d.spin.suffix() == " %" and d.spin.value() == pytest.approx(35.2)
    assert d.value() == 0.35237  # shown rounded, kept exact
    d.spin.setValue(20.0)
    assert d.value() == pytest.approx(0.20)


@pytest.mark.parametrize("source, button", [("model default", "Model default"),
                                            ("site profile, imported", "Site profile default")])
def test_threshold_dialog_names_where_its_default_comes_from(qtbot, source, button):
    from PySide6.QtWidgets import QLabel, QPushButton

    from desktop.qt.dialogs import ThresholdDialog

    d = ThresholdDialog(0.4, 0.2487, default_source=source)
    qtbot.addWidget(d)
    texts = [b.text() for b in d.findChildren(QPushButton)]
    assert button in texts
    label = " ".join(w.text() for w in d.findChildren(QLabel))
    assert f"The default is 24.9% ({source})." in label
