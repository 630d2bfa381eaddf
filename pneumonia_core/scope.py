"""Out-of-scope guard: is this input a frontal chest radiograph the model may score?

Evidence, cheapest first: DICOM Modality and BodyPartExamined, colour content, image
statistics of the model input, and the distance of the model's pooled features from the
training distribution (statistics the converter stores in ``metadata.json['scope']``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pneumonia_core.imageio import DecodedImage

#: DICOM modalities that produce projection radiographs.
RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "DR", "OT", "SC", ""}
#: BodyPartExamined values compatible with a chest film (DICOM PS3.16 CID 4031, common forms).
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "", "PORTABLE CHEST", "CHEST_AP", "CHEST_PA"}


@dataclass
class ScopeVerdict:
    in_scope: bool
    reason: str = ""


def check_decoded(decoded: DecodedImage) -> ScopeVerdict:
    """Checks that need only the decoded file (before the model runs)."""
    modality = decoded.dicom.get("Modality", "").upper()
    if decoded.source_format == "DICOM" and modality not in RADIOGRAPH_MODALITIES:
        return ScopeVerdict(False, f"DICOM modality {modality} is not a radiograph")
    body = decoded.dicom.get("BodyPartExamined", "").upper().strip()
    if body and body not in CHEST_BODY_PARTS:
        return ScopeVerdict(False, f"DICOM body part {body} is not the chest")
    if decoded.was_color:
        return ScopeVerdict(False, f"Colour image (colourfulness {decoded.colorfulness:.0f}); X-rays are grey")
    return ScopeVerdict(True)


def check_pixels(gray: np.ndarray, scope: dict) -> ScopeVerdict:
    """Image statistics of the model input against ranges stored by the converter."""
    std = float(gray.std())
    if std < float(scope.get("min_std", 8.0)):
        return ScopeVerdict(False, f"Nearly uniform image (contrast {std:.1f}); not a radiograph")
    return ScopeVerdict(True)


def feature_distance(embedding: np.ndarray, scope: dict) -> float | None:
    """Standardised distance of pooled features from the training distribution, or None
    when the metadata carries no feature statistics."""
    mean = scope.get("embedding_mean")
    std = scope.get("embedding_std")
    if not mean or not std:
        return None
    z = (np.asarray(embedding, np.float64) - np.asarray(mean)) / np.maximum(np.asarray(std), 1e-6)
    return float(np.sqrt(np.mean(z * z)))


def check_embedding(embedding: np.ndarray | None, scope: dict) -> ScopeVerdict:
    if embedding is None:
        return ScopeVerdict(True)
    dist = feature_distance(embedding, scope)
    limit = scope.get("max_distance")
    if dist is None or limit is None:
        return ScopeVerdict(True)
    if dist > float(limit):
        return ScopeVerdict(
            False, f"Unlike the training X-rays (feature distance {dist:.2f} > {float(limit):.2f})"
        )
    return ScopeVerdict(True)


def fit_scope_stats(embeddings: np.ndarray, quantile: float = 0.995, margin: float = 1.25) -> dict:
    """Statistics for ``metadata.json['scope']`` from pooled features of in-scope training
    X-rays (N, C): per-feature mean and std, and a distance limit at the given quantile of the
    training images' own distances times a safety margin."""
    emb = np.asarray(embeddings, np.float64)
    if emb.ndim != 2 or len(emb) < 10:
        raise ValueError(f"need (N>=10, C) embeddings, received shape {emb.shape}")
    mean = emb.mean(axis=0)
    std = emb.std(axis=0) + 1e-6
    stats = {"embedding_mean": mean.tolist(), "embedding_std": std.tolist(), "min_std": 8.0}
    dists = np.array([feature_distance(e, stats) for e in emb])
    stats["max_distance"] = float(np.quantile(dists, quantile) * margin)
    stats["distance_rule"] = f"{quantile:g} quantile of training-image distances x {margin:g}"
    return stats
