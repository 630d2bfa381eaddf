"""Dialogs: About (model identity, intended use, limitations), the first-start notice and
the decision-threshold setting. Texts come from the model's metadata."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.cli import app_version
from desktop.presentation import format_threshold
from pneumonia_core.metadata import INTENDED_USE, LIMITATIONS, ModelMetadata


def intended_use_html(meta: ModelMetadata | None) -> str:
    use = meta.intended_use if meta is not None else INTENDED_USE
    lim = meta.limitations if meta is not None else LIMITATIONS
    items = "".join(f"<li>{html.escape(x)}</li>" for x in lim)
    return (f"<h3>Intended use</h3><p>{html.escape(use)}</p>"
            f"<h3>Limitations</h3><ul>{items}</ul>")


def model_html(meta: ModelMetadata | None, threshold: float | None, error: str = "") -> str:
    if meta is None:
        return ("<h3>Model</h3><p style='color:#b00'><b>No model loaded.</b> "
                f"{html.escape(error)}</p><p>Images can be viewed but not classified.</p>")
    rule = html.escape(str(meta.threshold.get("rule", "")))
    thr = format_threshold(threshold) if threshold is not None else "?"
    return (
        "<h3>Model</h3><table>"
        f"<tr><td>Name</td><td>{html.escape(meta.name)}</td></tr>"
        f"<tr><td>Version</td><td>{html.escape(meta.version)}</td></tr>"
        f"<tr><td>Created</td><td>{html.escape(meta.created)}</td></tr>"
        f"<tr><td>SHA-256</td><td><tt>{meta.sha256}</tt></td></tr>"
        f"<tr><td>Quantization</td><td>{html.escape(meta.quantization)}</td></tr>"
        f"<tr><td>Threshold in use</td><td>{thr} (model default "
        f"{format_threshold(meta.threshold_value)}"
        f"{'; ' + rule if rule else ''})</td></tr></table>"
    )


class AboutDialog(QDialog):
    def __init__(self, meta: ModelMetadata | None, threshold: float | None, error: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About pneumonia-xray")
        self.resize(640, 520)
        lay = QVBoxLayout(self)
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.setHtml(
            f"<h2>pneumonia-xray {html.escape(app_version())}</h2><p>Offline triage aid for "
            "pediatric frontal chest X-rays. It makes no network connection.</p>"
            + (f"<p>App version {html.escape(app_version())}; model {html.escape(meta.name)} "
               f"version {html.escape(meta.version)}.</p>" if meta is not None else
               f"<p>App version {html.escape(app_version())}; no model loaded.</p>")
            + intended_use_html(meta) + model_html(meta, threshold, error))
        lay.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)


class FirstStartDialog(QDialog):
    """Shown until the user confirms having read the intended use once."""

    def __init__(self, meta: ModelMetadata | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Before you start")
        self.resize(600, 460)
        lay = QVBoxLayout(self)
        text = QTextBrowser()
        text.setHtml("<h2>pneumonia-xray is a triage aid, not a diagnosis</h2>"
                     + intended_use_html(meta))
        lay.addWidget(text)
        self.confirm = QCheckBox("I have read the intended use and limitations")
        lay.addWidget(self.confirm)
        self.ok_button = QPushButton("Continue")
        self.ok_button.setEnabled(False)
        self.confirm.toggled.connect(self.ok_button.setEnabled)
        self.ok_button.clicked.connect(self.accept)
        lay.addWidget(self.ok_button)


class ThresholdDialog(QDialog):
    """Edit the decision threshold; the default button clears the override. ``default_source``
    names where the default comes from (the model, or the site profile in force)."""

    def __init__(self, current: float, model_default: float,
                 parent: QWidget | None = None, default_source: str = "model default") -> None:
        super().__init__(parent)
        self.setWindowTitle("Decision threshold")
        self.use_default = False
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(
            "Images with a probability at or above the threshold are predicted PNEUMONIA and "
            "flagged for review.\nLowering it flags more films (more sensitive, more false "
            f"alarms). The default is {format_threshold(model_default)} ({default_source})."))
        form = QFormLayout()
        # In percent with one decimal, as format_threshold shows it everywhere.
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.1, 99.9)
        self.spin.setDecimals(1)
        self.spin.setSingleStep(1.0)
        self.spin.setSuffix(" %")
        self.spin.setValue(100.0 * current)
        self._current = current
        form.addRow("Threshold", self.spin)
        lay.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        is_site = default_source.startswith("site profile")
        default = buttons.addButton("Site profile default" if is_site else "Model default",
                                    QDialogButtonBox.ButtonRole.ResetRole)
        default.clicked.connect(self._default)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._model_default = model_default

    def _default(self) -> None:
        self.use_default = True
        self.spin.setValue(100.0 * self._model_default)
        self.accept()

    def value(self) -> float:
        """The chosen threshold as a fraction; the current one when the shown (rounded)
        value was not changed, so OK without an edit changes nothing."""
        if abs(self.spin.value() - round(100.0 * self._current, 1)) < 1e-9:
            return self._current
        return self.spin.value() / 100.0
