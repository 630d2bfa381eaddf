"""Measure the out-of-scope guard with the REAL classification path.

:func:`evaluate_scope` runs :func:`pneumonia_core.pipeline.classify_file` with the bundle in
``model_dir`` (its ``metadata.json['scope']`` as written) on

- the generated non-chest corpus of :mod:`converter.ood_corpus` (photographs, CT/MR DICOM,
  noise, documents, blank frames, patterns, shapes): the fraction reported ``out_of_scope``
  must be at least :data:`OOD_TARGET`; an item that errors counts as NOT caught;
- the validation split's real X-rays: the fraction reported ``out_of_scope`` must be at most
  :data:`VAL_TARGET` (unreadable files are counted apart, as errors).

:func:`with_pixel_stats` makes a copy of a model folder whose metadata gains image
statistics fitted on given training images, for models converted before those existed.
:func:`converter.model_card.scope_markdown` renders a result for the model card.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converter import model_card, model_folder
from pneumonia_core import scope
from pneumonia_core.imageio import ImageLoadError, load_image
from pneumonia_core.metadata import METADATA_FILE, ModelMetadata
from pneumonia_core.model import ModelBundle
from pneumonia_core.pipeline import STATUS_ERROR, STATUS_OUT_OF_SCOPE, classify_file

log = logging.getLogger(__name__)

#: At least this fraction of the non-chest corpus must be reported out of scope.
OOD_TARGET = 0.95
#: At most this fraction of real validation X-rays may be reported out of scope.
VAL_TARGET = 0.01

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    if done == total or done % 100 == 0:
        log.info("%s: %d/%d", stage, done, total)


def evaluate_scope(model_dir: str | Path, val_paths: Sequence[str | Path],
                   corpus_dir: str | Path | None = None, seed: int = 0,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Run the guard on the non-chest corpus and on ``val_paths``; a JSON-ready summary.

    Keys: ``ood_total``, ``ood_caught``, ``ood_caught_fraction``, ``ood_errors``,
    ``val_total``, ``val_rejected``, ``val_rejected_fraction``, ``val_errors``, ``targets``,
    ``passed``, ``by_category`` ({category: {n, caught, fraction}}), ``ood_by_check`` and
    ``val_rejected_by_check`` (which check fired), ``ood_missed`` and ``val_rejected_files``
    (what to look at), ``corpus_seed``, ``model_sha256``, ``method``.
    """
    from converter.ood_corpus import build_corpus

    report = progress or _no_progress
    bundle = ModelBundle.load(model_dir)
    with tempfile.TemporaryDirectory(prefix="ood-corpus-") as tmp:
        items = build_corpus(corpus_dir or tmp, seed=seed)
        per_cat: dict[str, Counter[str]] = {}
        ood_checks: Counter[str] = Counter()
        missed, ood_errors = [], 0
        for i, item in enumerate(items):
            res = classify_file(item.path, bundle)
            c = per_cat.setdefault(item.category, Counter())
            c["n"] += 1
            if res.status == STATUS_OUT_OF_SCOPE:
                c["caught"] += 1
                ood_checks[scope.reason_check(res.message)] += 1
            else:
                ood_errors += res.status == STATUS_ERROR
                missed.append({"item": f"{item.category}/{Path(item.path).name}",
                               "source": item.source, "status": res.status,
                               "message": res.message})
            report("out-of-scope corpus", i + 1, len(items))

    val_checks: Counter[str] = Counter()
    rejected_files, val_errors = [], 0
    for i, p in enumerate(val_paths):
        res = classify_file(p, bundle)
        if res.status == STATUS_OUT_OF_SCOPE:
            val_checks[scope.reason_check(res.message)] += 1
            rejected_files.append({"path": str(p), "message": res.message})
        elif res.status == STATUS_ERROR:
            val_errors += 1
            log.warning("validation image %s could not be read: %s", p, res.message)
        report("validation X-rays", i + 1, len(val_paths))

    n_ood = len(items)
    caught = sum(c["caught"] for c in per_cat.values())
    n_val = len(val_paths) - val_errors
    ood_frac = caught / n_ood if n_ood else 0.0
    val_frac = len(rejected_files) / n_val if n_val else 0.0
    stats = bundle.metadata.scope
    return {
        "ood_total": n_ood,
        "ood_caught": caught,
        "ood_caught_fraction": round(ood_frac, 4),
        "ood_errors": ood_errors,
        "val_total": n_val,
        "val_rejected": len(rejected_files),
        "val_rejected_fraction": round(val_frac, 4),
        "val_errors": val_errors,
        "targets": {"ood_caught_min": OOD_TARGET, "val_rejected_max": VAL_TARGET},
        "passed": bool(n_ood and n_val and ood_frac >= OOD_TARGET and val_frac <= VAL_TARGET),
        "by_category": {k: {"n": v["n"], "caught": v["caught"],
                            "fraction": round(v["caught"] / v["n"], 4)}
                        for k, v in sorted(per_cat.items())},
        "ood_by_check": dict(sorted(ood_checks.items())),
        "val_rejected_by_check": dict(sorted(val_checks.items())),
        "ood_missed": missed,
        "val_rejected_files": rejected_files[:50],
        "corpus_seed": seed,
        "model_sha256": bundle.metadata.sha256,
        "method": ("pneumonia_core.pipeline.classify_file on every file; checks in use: DICOM tags, "
                   "colour" + (", image statistics + layout" if stats.get("pixels") else
                               ", contrast sanity rules only (no fitted image statistics)")
                   + (", feature distance" if stats.get("max_distance") is not None else "")),
    }


def with_pixel_stats(model_dir: str | Path, train_paths: Sequence[str | Path],
                     out_dir: str | Path) -> Path:
    """Copy ``model_dir`` to ``out_dir`` and add ``scope['pixels']`` fitted on ``train_paths``
    (TRAINING images only; unreadable ones are skipped). Other metadata is unchanged, so the
    model file still matches its SHA-256."""
    src, out = Path(model_dir), Path(out_dir)
    shutil.copytree(src, out, dirs_exist_ok=True)
    meta = model_folder.read_json(src)
    size = int(meta["input"]["shape"][1])
    images = []
    for p in train_paths:
        try:
            images.append(load_image(p, size))
        except ImageLoadError as exc:
            log.warning("skipping %s: %s", p, exc)
    meta.setdefault("scope", {})["pixels"] = scope.fit_pixel_stats(images)
    model_folder.write(out, meta)
    return out


def refit_scope(model_dir: str | Path, train_paths: Sequence[str | Path],
                progress: Progress | None = None) -> dict[str, Any]:
    """Refit ``metadata.json['scope']`` of an existing model folder on TRAINING films, in
    place, with :func:`pneumonia_core.scope.fit_scope_stats` (the converter's rule): image
    statistics and layout from the model inputs, feature statistics from the model's own
    embeddings. Only ``metadata.json`` changes (its ``scope`` and the ``input.resize``
    description of the loader); ``model.tflite`` is checked against its SHA-256 before and
    after. Returns the fitted-film acceptance and counts (also stored in ``scope['fitted']``).
    """
    from pneumonia_core.imageio import RESIZE_METHOD
    from pneumonia_core.metadata import sha256_file

    report = progress or _no_progress
    folder = Path(model_dir)
    bundle = ModelBundle.load(folder)
    model_file = folder / bundle.metadata.file
    if sha256_file(model_file) != bundle.metadata.sha256:
        raise ValueError(f"{model_file.name} does not match the SHA-256 in {METADATA_FILE}")
    size = bundle.input_size
    images, embeddings, skipped = [], [], 0
    for i, p in enumerate(train_paths):
        try:
            gray = load_image(p, size)
        except ImageLoadError as exc:
            log.warning("skipping %s: %s", p, exc)
            skipped += 1
            continue
        images.append(gray)
        embeddings.append(bundle.predict(gray).embedding)
        report("training films", i + 1, len(train_paths))
    if any(e is None for e in embeddings):
        raise ValueError("the model has no embedding output; cannot fit the feature distance")
    # The model's own features of the acquisition variants too (the feature-pattern check).
    stats = scope.fit_scope_stats(np.stack(embeddings), images=images,
                                  embed=lambda grays: np.stack([bundle.predict(g).embedding
                                                                for g in grays]))
    fitted = stats["fitted"]
    fitted["skipped"] = skipped
    if fitted["acceptance"] < scope.MIN_FITTED_ACCEPTANCE:
        raise ValueError(f"the fitted guard refuses {fitted['refused']} of its {fitted['images']} "
                         f"fitted films (acceptance {fitted['acceptance']} < "
                         f"{scope.MIN_FITTED_ACCEPTANCE})")
    meta = model_folder.read_json(folder)
    meta["scope"] = stats
    meta["input"]["resize"] = RESIZE_METHOD
    model_folder.write(folder, meta)  # checked: the model file still matches its SHA-256
    return fitted


def record_scope_evaluation(model_dir: str | Path, result: dict[str, Any]) -> None:
    """Store an :func:`evaluate_scope` result where the converter puts it: ``metadata.json``
    and ``validation.json`` (``out_of_scope``) and the model card's out-of-scope section, so
    a refitted guard is not described by the old one's figures."""
    folder = Path(model_dir)
    record = {"measured": True, **result}
    meta = model_folder.read_json(folder)
    meta.setdefault("validation", {})["out_of_scope"] = record
    validation = None
    if (folder / model_folder.VALIDATION_FILE).is_file():
        validation = model_folder.read_json(folder, model_folder.VALIDATION_FILE)
        validation["out_of_scope"] = record
    card = None
    if (folder / model_folder.CARD_FILE).is_file():
        section = "\n".join(model_card.scope_section(record, ModelMetadata.from_dict(meta))) + "\n\n"
        card = model_folder.replace_card_section(
            (folder / model_folder.CARD_FILE).read_text(encoding="utf-8"), "Out-of-scope inputs",
            section)
    model_folder.write(folder, meta, validation, card)
