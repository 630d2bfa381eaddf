"""Labelled training sources: the Kaggle folder layout, or a CSV list of ``path,label[,patient]``.

Either way the result is a data root and a sorted list of :class:`training.data.Sample`, and
every image (JPEG, PNG, TIFF, BMP or DICOM) is later decoded by the app's own loader
(:func:`pneumonia_core.imageio.load_image`), so a DICOM film is prepared exactly as the app
prepares it.

CSV format (UTF-8, a header row naming the columns, any order, extra columns ignored)::

    path,label,patient
    films/0001.dcm,PNEUMONIA,P-17
    /mnt/pacs-export/0002.png,0,P-18

- ``path``: relative to the CSV's folder (the run's data root) or absolute.
- ``label``: ``NORMAL``/``PNEUMONIA`` (any case) or ``0``/``1``.
- ``patient`` (optional): the validation split keeps each patient's films on one side. Without
  it, the patient comes from the file name where it follows the Kermany patterns, else each
  file is its own patient (byte-identical files are still kept together).

A row with a missing file, an unknown label or a repeated path is left out with a warning that
names its line; no usable row at all is an error.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from training.data import LABELS, Sample, scan_split

log = logging.getLogger(__name__)

_LABEL_NAMES = {name.lower(): i for i, name in enumerate(LABELS)} | {"0": 0, "1": 1}
#: How many skipped rows a warning lists by line (the count is always given).
SHOWN_PROBLEMS = 10


def read_source(source: Path | str, split: str = "train") -> tuple[Path, list[Sample]]:
    """(data root, samples) of a Kaggle-style folder (its ``split/``) or of a CSV file."""
    source = Path(source)
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise ValueError(f"{source} is a file but not a .csv list of path,label[,patient]")
        return read_csv(source)
    if source.is_dir():
        root = source.resolve()
        return root, scan_split(root, split)
    raise FileNotFoundError(f"training data not found: {source} (a folder with {split}/NORMAL "
                            f"and {split}/PNEUMONIA, or a .csv of path,label[,patient])")


def _label(text: str) -> int | None:
    return _LABEL_NAMES.get(text.strip().lower())


def read_csv(path: Path) -> tuple[Path, list[Sample]]:
    """Samples listed in a CSV file (see the module docstring); the CSV's folder is the root."""
    path = Path(path)
    root = path.parent.resolve()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in (reader.fieldnames or [])]
        if "path" not in columns or "label" not in columns:
            raise ValueError(f"{path}: the header must name the columns path and label "
                             f"(and optionally patient); found {reader.fieldnames}")
        reader.fieldnames = columns
        has_patient = "patient" in columns
        samples: list[Sample] = []
        problems: list[str] = []
        seen: set[str] = set()
        for row in reader:
            sample = _row_sample(row, root, has_patient, seen)
            if isinstance(sample, str):
                problems.append(f"line {reader.line_num}: {sample}")
            else:
                seen.add(sample.rel)
                samples.append(sample)
    if problems:
        log.warning("%s: %d row(s) left out: %s%s", path.name, len(problems),
                    "; ".join(problems[:SHOWN_PROBLEMS]),
                    " ..." if len(problems) > SHOWN_PROBLEMS else "")
    if not samples:
        raise ValueError(f"{path}: no usable rows ({len(problems)} left out)")
    log.info("%s: %d films (%d pneumonia)%s", path.name, len(samples),
             sum(s.label for s in samples), ", patients from the patient column" if has_patient else "")
    return root, sorted(samples, key=lambda s: s.rel)


def _row_sample(row: dict[str, str | None], root: Path, has_patient: bool,
                seen: set[str]) -> Sample | str:
    """The sample of one CSV row, or why the row is left out (``seen``: the relative paths
    of the rows kept so far)."""
    raw = (row.get("path") or "").strip()
    label = _label(row.get("label") or "")
    if not raw:
        return "empty path"
    if label is None:
        return f"label {row.get('label')!r} is not NORMAL, PNEUMONIA, 0 or 1"
    file = Path(raw) if os.path.isabs(raw) else root / raw
    if not file.is_file():
        return f"no such file {raw}"
    file = file.resolve()
    try:
        rel = file.relative_to(root).as_posix()
    except ValueError:
        rel = file.as_posix()  # outside the root: kept absolute
    if rel in seen:
        return f"{raw} listed again"
    patient = (row.get("patient") or "").strip() if has_patient else ""
    return Sample(file, rel, label, file.stat().st_size, ("csv:" + patient) if patient else None)
