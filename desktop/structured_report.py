"""A DICOM Structured Report (Comprehensive SR) of one result, that a PACS can store beside the
film it describes (issue 25): ``pneumonia-xray classify FILES --csv OUT --sr-dir DIR``.

One SR per DICOM input the model read (``ok``) or set aside (out of scope, outside the
intended use); none for files that are not DICOM or could not be read (their CSV row says
why). Each SR is in the source film's patient and study, references the source image (SOP
Class and Instance UID, in the content tree and in the evidence sequence) and says, in this
order: the finding (flagged for review or not, or why the model did not score it), the
probability and the decision threshold, the model's name, version and SHA-256, and the
statement that this is a triage aid, not a diagnosis (with the intended use). The SR's own
UIDs are derived from the source image, the model and the threshold, so that the same result
sent twice is one object in the PACS, not two.

Written with highdicom (which checks the IOD), an optional extra (``pip install
'pneumonia-xray[sr]'``): it and its DICOM standard tables take 27 MB, so the standalone bundle
leaves it out (build.spec) and ``--sr-dir`` says so there. Qt-free; highdicom is imported
only when an SR is written.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import identifiers

if TYPE_CHECKING:
    from pneumonia_core.metadata import ModelMetadata
    from pneumonia_core.pipeline import Result

log = logging.getLogger(__name__)

#: The statement every SR carries (the app's own words: the About box, docs/app.md).
STATEMENT = "Triage aid, not a diagnosis"
#: Why ``--sr-dir`` cannot be used where highdicom is not installed.
MISSING = ("--sr-dir needs the optional package highdicom (pip install "
           "'pneumonia-xray[sr]'), which the standalone bundle does not include "
           "(docs/deployment.md)")
#: Local coding scheme of the concepts DICOM has no code for (PS3.16 8.1: '99' prefix).
SCHEME = "99PNXRAY"
#: Statuses whose DICOM inputs get an SR (an unreadable file has no header to report on).
REPORTED = ("ok", "out_of_scope", "outside_intended_use")
#: What a report needs of its source film to be placed beside it (Type 1 in image IODs).
REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
#: Type 2 attributes of the Patient and General Study modules that the SR copies from its
#: source: present in a conforming film, possibly absent in others (then empty, as allowed).
TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
SERIES_NUMBER = 9901  # a number of its own, after the modality's series


def available() -> bool:
    """Whether highdicom is installed (without importing it)."""
    return importlib.util.find_spec("highdicom") is not None


class ReportError(Exception):
    """This result's SR could not be written; the message names the reason."""


def _local(value: str, meaning: str) -> Any:
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


def finding_text(result: Result) -> str:
    """The finding in words: 'PNEUMONIA: flagged for review (P(pneumonia) 0.9102 >= threshold
    0.2116)', 'NORMAL: not flagged (...)', or why the model did not score the film."""
    from pneumonia_core.formatting import format_pair

    if result.status != "ok" or result.probability is None or result.threshold is None:
        return f"Not scored by the model ({result.status.replace('_', ' ')}): {result.message}"
    p_text, t_text = format_pair(result.probability, result.threshold)
    relation = ">=" if result.positive else "<"
    what = "flagged for review" if result.positive else "not flagged"
    return (f"{result.prediction}: {what} (P(pneumonia) {p_text} {relation} threshold "
            f"{t_text})")


def _content(result: Result, source: Any, meta: ModelMetadata) -> Any:
    """The content tree: a titled container holding the result's items."""
    from highdicom.sr import (
        CodedConcept,
        ContainerContentItem,
        ImageContentItem,
        NumContentItem,
        TextContentItem,
    )
    from pydicom.sr.codedict import codes

    from pneumonia_core.metadata import INTENDED_USE

    contains = "CONTAINS"
    no_units = CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")
    items: list[Any] = [TextContentItem(codes.DCM.Finding, finding_text(result), contains)]
    if result.status == "ok" and result.probability is not None:
        items.append(NumContentItem(_local("PNEUMONIA-P", "Probability of pneumonia"),
                                    float(result.probability), no_units,
                                    relationship_type=contains))
    if result.threshold is not None:
        items.append(NumContentItem(_local("THRESHOLD", "Decision threshold"),
                                    float(result.threshold), no_units,
                                    relationship_type=contains))
    items += [
        TextContentItem(codes.DCM.AlgorithmName, meta.name, contains),
        TextContentItem(codes.DCM.AlgorithmVersion, meta.version, contains),
        TextContentItem(_local("MODEL-SHA256", "Model SHA-256"), meta.sha256, contains),
        TextContentItem(codes.DCM.Comment, f"{STATEMENT}. {INTENDED_USE}", contains),
        ImageContentItem(codes.DCM.SourceOfMeasurement, source.SOPClassUID,
                         source.SOPInstanceUID, relationship_type=contains),
    ]
    root = ContainerContentItem(_local("TRIAGE-RESULT", "Pneumonia triage aid result"))
    root.ContentSequence = items
    return root


def build(result: Result, source: Any, meta: ModelMetadata, app_version: str) -> Any:
    """The SR dataset of ``result`` for the ``source`` film's header (a pydicom Dataset)."""
    from highdicom.sr import ComprehensiveSR
    from pydicom.uid import generate_uid

    # highdicom logs the UIDs it copies at INFO: identifiers never go to the app's log
    logging.getLogger("highdicom").setLevel(logging.WARNING)

    seed = [str(source.SOPInstanceUID), meta.sha256, f"{result.threshold}", result.status]
    sr = ComprehensiveSR(
        evidence=[source],
        content=_content(result, source, meta),
        series_instance_uid=generate_uid(entropy_srcs=[*seed, "series"]),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(entropy_srcs=[*seed, "instance"]),
        instance_number=1,
        manufacturer="pneumonia-xray",
        is_complete=True,
        is_final=False,  # a triage aid's output, never a verified report
        is_verified=False,
    )
    sr.SeriesDescription = f"pneumonia-xray triage result ({STATEMENT.lower()})"
    sr.SoftwareVersions = [f"pneumonia-xray {app_version}", f"{meta.name} {meta.version}"]
    return sr


def _source_header(result: Result) -> Any:
    """The source film's header, read again (no pixels); it must be the image that was
    classified (same SOP Instance UID as read at decode)."""
    import pydicom

    from pneumonia_core.dicom import import_pydicom

    import_pydicom()
    try:
        ds = pydicom.dcmread(result.path, stop_before_pixels=True, force=True)
        missing = [k for k in REQUIRED if not ds.get(k)]
    except Exception as exc:  # pydicom raises many types on a changed or odd header
        raise ReportError(f"cannot read its DICOM header again: {exc}") from None
    if missing:
        raise ReportError(f"the film lacks {', '.join(missing)}, which place a report beside "
                          "it in the PACS")
    if str(ds.SOPInstanceUID) != result.dicom.get("SOPInstanceUID"):
        raise ReportError("the file changed after it was classified (another SOP Instance "
                          "UID)")
    for keyword in TYPE2_COPIED:  # absent in some films; the SR needs them (empty is valid)
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


def sr_file_name(result: Result) -> str:
    """``SR_<source SOP Instance UID>.dcm``: one file per source image."""
    return f"SR_{result.dicom['SOPInstanceUID']}.dcm"


@dataclass
class Writer:
    """Writes the SR of each reportable DICOM result into ``folder`` (created) and counts."""

    folder: Path
    meta: ModelMetadata
    app_version: str
    written: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, result: Result) -> Path | None:
        """Write ``result``'s SR when it has one; a failure is logged and counted, never
        raised (the CSV and the other SRs go on)."""
        if result.status not in REPORTED or not result.dicom.get("SOPInstanceUID"):
            return None
        try:
            source = _source_header(result)
            dest = self.folder / sr_file_name(result)
            write_dataset(build(result, source, self.meta, self.app_version), dest)
        except Exception as exc:  # noqa: BLE001 (highdicom's checks raise many types; one
            # film's report must not stop the CSV nor the other reports)
            self.failed.append(result.path)
            reason = f"{exc}" if isinstance(exc, (ReportError, OSError)) else (
                f"{type(exc).__name__}: {exc}")
            for value in identifiers.of(result.dicom):  # the log never holds an identifier
                reason = reason.replace(value, "<identifier>") if value else reason
            log.warning("no DICOM SR for %s: %s", os.path.basename(result.path), reason)
            return None
        self.written += 1
        return dest

    def summary(self) -> str:
        text = f"{self.written} DICOM structured report(s) -> {self.folder}"
        if self.failed:
            text += f"; {len(self.failed)} could not be written (see the log)"
        return text


def write_dataset(ds: Any, dest: Path) -> None:
    """Save ``ds`` as a DICOM Part 10 file atomically (temporary file, then rename)."""
    import io

    from pneumonia_core.atomic_files import atomic_write_bytes

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    atomic_write_bytes(dest, buf.getvalue())


def folder_problem(folder: Path, inputs: Iterable[str]) -> str | None:
    """Why ``--sr-dir`` cannot be used (highdicom missing, inside an input folder, not a
    folder); None when fine. The folder is created when missing."""
    if not available():
        return MISSING
    real = folder.resolve()
    for raw in inputs:
        p = Path(raw).resolve()
        if p.is_dir() and (real == p or p in real.parents):
            return (f"--sr-dir {folder} is inside the input folder {raw}: the reports would "
                    "be read as films by the next run. Choose a folder outside the inputs")
    if real.exists() and not real.is_dir():
        return f"--sr-dir {folder} is not a folder"
    try:
        real.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--sr-dir {folder} cannot be created: {exc}"
    return None
