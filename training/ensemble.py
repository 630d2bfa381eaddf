"""An ensemble of finished xraynet runs as ONE model that follows the model contract.

The members' backbones run side by side on the same image and their feature maps are
concatenated; the ensemble's ``cam_head`` is a ``Conv2D(1, 1)`` whose kernel is the members'
kernels divided by the number of members and whose bias is their mean. So the ensemble's CAM
is the mean of the members' CAMs, its logit (the CAM's global average) is the mean of their
logits, exactly, and the converter, the app and the heatmap need nothing new. All members must
share the validation split (same data, seed and fraction), which stays held out from all.

    pneumonia-train ensemble --out RUN_DIR MEMBER_RUN [MEMBER_RUN ...]

writes a run folder (config.json with the members, split.json, model.keras, val_logits.npy)
and calibrates and evaluates it on the validation split like a trained run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from training import run as R
from training.config import git_commit

log = logging.getLogger(__name__)

ARCHITECTURE = "xraynet_ensemble"


def build_ensemble(models: list[Any]) -> Any:
    """The ensemble model (input ``image``, one logit) from trained xraynet models."""
    import keras
    from keras import layers

    if len(models) < 2:
        raise ValueError("an ensemble needs at least two member runs")
    size = int(models[0].input_shape[1])
    maps = set()
    for m in models:
        if int(m.input_shape[1]) != size:
            raise ValueError(f"members differ in input size: {m.input_shape[1]} vs {size}")
        try:
            m.get_layer("cam_head")
        except ValueError:
            raise ValueError(f"member {m.name!r} has no 'cam_head' (only xraynet runs can be "
                             "combined)") from None
        maps.add(tuple(m.get_layer("backbone").output.shape[1:3]))
    if len(maps) != 1:
        raise ValueError(f"members' feature maps differ in size: {sorted(maps)}")
    pixels = keras.Input((size, size, 1), name="pixels")
    features = []
    for i, m in enumerate(models):
        bb = m.get_layer("backbone")
        member = keras.Model(bb.input, bb.output, name=f"member{i}")
        features.append(member(pixels))
    backbone = keras.Model(pixels, layers.Concatenate(name="member_features")(features),
                           name="backbone")
    image = keras.Input((size, size, 1), name="image")
    head = layers.Conv2D(1, 1, name="cam_head")
    cam = head(backbone(image))
    kernels, biases = zip(*(m.get_layer("cam_head").get_weights() for m in models), strict=True)
    n = len(models)
    head.set_weights([np.concatenate(kernels, axis=2) / n, np.mean(biases, axis=0)])
    logit = layers.GlobalAveragePooling2D(name="logit")(cam)
    return keras.Model(image, logit, name="xraynet_ensemble")


def _split_lists(run_dir: Path) -> dict[str, Any]:
    split = R.read_json(run_dir / R.SPLIT_FILE)
    return {k: split[k] for k in ("train", "val", "seed", "val_fraction", "limit")}


def make_ensemble(members: list[Path], out: Path, cache_dir: Path | None = None) -> Path:
    """Write the ensemble run folder ``out`` from member run folders, then calibrate and
    evaluate it on the shared validation split."""
    from training.evaluate import calibrate, evaluate, split_logits
    from training.run import load_run

    members = [Path(m).resolve() for m in members]
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose another --out")
    runs = [load_run(m) for m in members]
    first_split = _split_lists(members[0])
    for m in members[1:]:
        if _split_lists(m) != first_split:
            raise ValueError(f"{m.name} was trained on another split than {members[0].name}; "
                             "an ensemble needs one held-out validation split for all members")
    fingerprints = {r.provenance.get("data_fingerprint") for r in runs}
    if len(fingerprints) != 1:
        raise ValueError("members were trained on different data (data fingerprints differ)")
    model = build_ensemble([r.model for r in runs])
    out.mkdir(parents=True, exist_ok=True)
    digests = [r.provenance.get("config_digest", "") for r in runs]
    cfg = replace(runs[0].config, name="ensemble of " + " + ".join(m.name for m in members),
                  architecture=ARCHITECTURE)
    payload = {
        "config": cfg.to_dict(),
        "config_digest": hashlib.sha256("+".join(digests).encode()).hexdigest()[:16],
        "data_fingerprint": runs[0].provenance.get("data_fingerprint"),
        "data_root": runs[0].provenance.get("data_root"),
        "git_commit": git_commit(),
        "ensemble_of": [{"run": m.name, "config_digest": d, "config": r.config.to_dict()}
                        for m, d, r in zip(members, digests, runs, strict=True)],
    }
    (out / R.CONFIG_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    (out / R.SPLIT_FILE).write_text((members[0] / R.SPLIT_FILE).read_text())
    model.save(out / R.MODEL_FILE)
    run = load_run(out)
    _, logits = split_logits(run, "val", cache_dir)
    np.save(out / R.VAL_LOGITS_FILE, logits)
    calibrate(run, cache_dir)
    report = evaluate(run, "val", cache_dir)
    log.info("ensemble of %d runs: val ROC AUC %.4f, specificity %.4f at sensitivity %.4f; "
             "run folder %s", len(runs), report["roc_auc"], report["specificity"],
             report["sensitivity"], out)
    return out
