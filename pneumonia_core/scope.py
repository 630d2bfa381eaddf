"""Out-of-scope guard: is this input a frontal chest radiograph the model may score?

Evidence, cheapest first:

1. :func:`check_decoded` - the decoded file: DICOM Modality, BodyPartExamined and SOP class,
   and colour content (X-rays are grey). A chest film outside the intended use (adult,
   lateral view) is a chest X-ray: :mod:`pneumonia_core.intended_use` says so instead.
2. :func:`check_pixels` - statistics of the ``S x S`` grey model input. Always: a minimum
   contrast and two wide sanity rules (mostly saturated, pixel noise). With statistics fitted
   on training X-rays (``scope['pixels']``, written by :func:`fit_scope_stats` with
   ``images=``): each feature of :data:`PIXEL_FEATURES` must lie in its training range
   (widened by a margin), and the image's coarse layout (a 16x16 thumbnail, normalised) must
   be explained by the principal components of training X-ray thumbnails ("eigen-chests").
3. :func:`check_embedding` - distance of the model's pooled features from the training
   distribution (``scope['embedding_mean']``, ``['embedding_std']``, ``['max_distance']``) and,
   when fitted, their principal-component pattern (``scope['embedding_pattern']``: training
   films and acquisition variants, :func:`fit_embedding_pattern`).

All limits come from ``metadata.json['scope']``; nothing here depends on one model. Old
metadata without ``pixels`` still works (steps 1, 3 and the sanity rules of 2 apply).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from pneumonia_core.imageio import DecodedImage

log = logging.getLogger(__name__)

#: DICOM modalities that produce projection radiographs.
RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "DR", "OT", "SC", ""}
#: BodyPartExamined values compatible with a chest film (DICOM PS3.16 CID 4031, common forms).
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "", "PORTABLE CHEST", "CHEST_AP", "CHEST_PA"}
#: SOP classes of cross-sectional or other non-radiograph images (prefix match on the UID).
NON_RADIOGRAPH_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT",  # CT, Enhanced CT, Legacy CT
    "1.2.840.10008.5.1.4.1.1.4": "MR",
    "1.2.840.10008.5.1.4.1.1.6": "ultrasound",
    "1.2.840.10008.5.1.4.1.1.3.1": "ultrasound",
    "1.2.840.10008.5.1.4.1.1.20": "nuclear medicine",
    "1.2.840.10008.5.1.4.1.1.128": "PET",
    "1.2.840.10008.5.1.4.1.1.1.2": "mammography",
    "1.2.840.10008.5.1.4.1.1.77": "visible light (photograph or endoscopy)",
    "1.2.840.10008.5.1.4.1.1.66": "segmentation or registration",
    "1.2.840.10008.5.1.4.1.1.481": "radiotherapy",
}

#: Image statistics of the model input compared against training ranges. Name -> wording
#: shown to the user.
PIXEL_FEATURES = {
    "mean": "mean brightness",
    "std": "contrast",
    "p01": "1st percentile brightness",
    "p05": "5th percentile brightness",
    "p50": "median brightness",
    "p95": "95th percentile brightness",
    "p99": "99th percentile brightness",
    "edge": "edge density (relative)",
    "fine": "fine detail (relative)",
    "edge_abs": "edge density",
    "fine_abs": "fine detail",
    "symmetry": "left-right symmetry",
    "entropy": "histogram entropy",
    "saturated": "fraction of black or white pixels",
}
#: Absolute contrast and detail: what vendor processing (edge enhancement) and display curves
#: change most, in a chest film as much as in anything else. A guard fitted for other sites
#: (with acquisition variants) checks their contrast-relative forms (``edge``, ``fine``) and
#: the minimum contrast only; older metadata keeps its ranges of them.
ACQUISITION_DEPENDENT = ("std", "edge_abs", "fine_abs")
#: Brightness levels, relative fine detail and clipping (the share of black or white pixels):
#: what another display curve (gamma, LUT, lifted blacks, a lowered white point) and vendor
#: processing with sensor noise (edge enhancement, its overshoot clipped) move. A guard that also
#: has the feature-pattern check (``scope['embedding_pattern']``, fitted on the network's
#: features of films AND acquisition variants) leaves their ranges out: the network's
#: features tell a chest film from a photograph or a document under such differences better
#: than any range of them (docs/acquisition-shift.md, round 3).
DISPLAY_AND_PROCESSING = ("mean", "p01", "p05", "p50", "p95", "p99", "fine", "saturated")
#: Principal components of the network's pooled features kept by the feature-pattern check.
PATTERN_COMPONENTS = 32
#: Its limits: this quantile of held-out films' and held-out variants' distances (2-fold).
PATTERN_QUANTILE = 0.999
#: How the pixel and layout checks are fitted alongside the feature-pattern check: borders
#: found on a smoothed image at any grey level, no display or fine-detail ranges (the relative
#: edge density stays: on the non-chest corpus it catches grey photographs nothing else does),
#: the layout residual's limit at the variants' 0.995 quantile (0.99 without the pattern check;
#: the residual is what catches grey photographs and slices) and the layout distance's at their
#: 0.999 quantile, as the pattern check's (tightly collimated, rotated films; no non-chest
#: input of the corpus is caught by the distance alone).
#: Statistics a guard with the feature-pattern check limits from below only: the relative
#: edge density. Its lower limit catches grey photographs (smoother than any film); its upper
#: side is what vendor edge enhancement on sensor noise raises, and it refused real films under
#: the suite's combined shift that no other check refused (13 of 1,256 shifted films in four
#: draws, docs/acquisition-shift.md), while every non-chest input of the corpus it caught is
#: also caught by the layout. Pixel noise beyond any film stays refused by ``MAX_NOISE_EDGE``.
LOWER_ONLY = ("edge",)
WITH_PATTERN_CHECK = {"smoothed_field": True, "any_level_field": True,
                      "unchecked": DISPLAY_AND_PROCESSING, "lower_only": LOWER_ONLY,
                      "variant_layout_quantile": 0.995, "variant_distance_quantile": 0.999}
#: Side of the layout thumbnail.
THUMB = 16
#: Number of principal components of training thumbnails kept.
LAYOUT_COMPONENTS = 16

#: Sanity rules that need no fitted statistics (wide: no X-ray comes near them).
MAX_SATURATED = 0.6
MAX_NOISE_EDGE = 0.6


@dataclass
class ScopeVerdict:
    """The guard's answer for one film: in scope, or why not and which check said so."""

    in_scope: bool
    reason: str = ""
    check: str = ""  # "dicom", "colour", "pixels", "layout", "embedding" when out of scope


# -- 1. the decoded file ----------------------------------------------------------------

def check_decoded(decoded: DecodedImage) -> ScopeVerdict:
    """Checks that need only the decoded file (before the model runs)."""
    tags = decoded.dicom
    modality = tags.get("Modality", "").upper().strip()
    if decoded.source_format == "DICOM" and modality not in RADIOGRAPH_MODALITIES:
        return ScopeVerdict(False, f"DICOM modality {modality} is not a radiograph", "dicom")
    body = tags.get("BodyPartExamined", "").upper().strip()
    if body and body not in CHEST_BODY_PARTS:
        return ScopeVerdict(False, f"DICOM body part {body} is not the chest", "dicom")
    sop = tags.get("SOPClassUID", "").strip()
    for prefix, kind in NON_RADIOGRAPH_SOP_CLASSES.items():
        if sop == prefix or sop.startswith(prefix + "."):
            return ScopeVerdict(False, f"DICOM object is a {kind} image, not a radiograph", "dicom")
    if decoded.was_color:
        return ScopeVerdict(
            False, f"Colour image (colourfulness {decoded.colorfulness:.0f}); X-rays are grey", "colour"
        )
    return ScopeVerdict(True)


# -- 2. image statistics -----------------------------------------------------------------

#: Percentiles of :data:`PIXEL_FEATURES` (name -> q in percent).
_PERCENTILES = {"p01": 1.0, "p05": 5.0, "p50": 50.0, "p95": 95.0, "p99": 99.0}
_LEVELS = np.arange(256, dtype=np.float64)


def _as_uint8(gray: np.ndarray) -> np.ndarray:
    g = np.asarray(gray)
    return g if g.dtype == np.uint8 else np.clip(np.rint(g), 0, 255).astype(np.uint8)


def _histogram(g: np.ndarray) -> np.ndarray:
    """The 256-bin histogram (float64 counts) of a 2-D uint8 image: ``np.bincount``'s counts,
    from Pillow's counter (about twice as fast: bincount first copies the pixels to int64)."""
    if g.ndim != 2 or g.size == 0:
        return np.bincount(g.ravel(), minlength=256).astype(np.float64)
    return np.array(Image.fromarray(g).histogram(), dtype=np.float64)


def _mirror_product_sum(g: np.ndarray) -> int:
    """Sum of each pixel times its left-right mirror pixel of a 2-D uint8 image, in integers
    (each pair counted twice, the middle column of an odd width once)."""
    half = g.shape[1] // 2
    left = g[:, :half].astype(np.uint32)
    right = g[:, g.shape[1] - half:][:, ::-1]
    total = 2 * int((left * right).sum(dtype=np.uint64))
    if g.shape[1] % 2:
        middle = g[:, half].astype(np.uint32)
        total += int((middle * middle).sum(dtype=np.uint64))
    return total


def _histogram_percentiles(cdf: np.ndarray, n: int, qs: Iterable[float]) -> list[float]:
    """``np.percentile(pixels, q)`` (linear method) for each ``q`` from the cumulative
    histogram of ``n`` uint8 pixels: no sort, same arithmetic as NumPy's virtual index and
    lerp; one search of the histogram for all of them."""
    spots = []
    for q in qs:
        index = (n - 1) * (q / 100.0)
        k = math.floor(index)
        spots.append((index - k, min(max(k, 0), n - 1), min(max(k + 1, 0), n - 1)))
    # The k-th smallest pixel (0-based) is the first level whose cumulative count exceeds k.
    levels = np.searchsorted(cdf, [x for _, a, b in spots for x in (a, b)], side="right").tolist()
    out = []
    for i, (t, _, _) in enumerate(spots):
        lo, hi = float(levels[2 * i]), float(levels[2 * i + 1])
        diff = hi - lo
        out.append(hi - diff * (1.0 - t) if t >= 0.5 else lo + diff * t)
    return out


#: The fine-detail features: the only ones that need a blurred copy of the image.
FINE_FEATURES = ("fine", "fine_abs")


def pixel_features(gray: np.ndarray, fine: bool = True,
                   hist: np.ndarray | None = None) -> dict[str, float]:
    """The :data:`PIXEL_FEATURES` of a 2-D uint8 image (the model input).

    Brightness statistics come from the 256-bin histogram (exact: the same values as the
    direct formulas, without a float copy or a sort); differences are taken in int16 and the
    symmetry product is summed in integers (exact, as in float64, where every partial sum is
    an exact integer). ``fine=False`` leaves out :data:`FINE_FEATURES` (NaN), whose blur is
    the costliest step, for a guard that keeps no range of them. ``hist``: the image's
    256-bin histogram (float64 counts) when the caller has it already.
    """
    g = np.asarray(gray)
    if g.ndim != 2:
        raise ValueError(f"expected a 2-D image, received shape {g.shape}")
    g = _as_uint8(g)
    n = g.size
    if hist is None:
        hist = np.bincount(g.ravel(), minlength=256).astype(np.float64)
    # Sums of pixels, squares and mirrored products are integers, exact in float64 up to
    # about 2**53 (n * sums stay below it for model inputs up to 512 x 512).
    total = float(hist @ _LEVELS)
    n_var = n * float(hist @ np.square(_LEVELS)) - total * total  # n**2 * variance
    mean = total / n
    std = float(np.sqrt(max(n_var, 0.0))) / n
    cdf = np.cumsum(hist)
    g16 = g.astype(np.int16)
    grad = (float(np.abs(np.diff(g16, axis=1)).mean()) + float(np.abs(np.diff(g16, axis=0)).mean())) / 2
    if fine:
        blur = np.asarray(Image.fromarray(g).filter(ImageFilter.GaussianBlur(2)), np.int16)
        detail = float(np.abs(g16 - blur).mean())
    else:
        detail = float("nan")
    if std > 0:
        # Sum of pixel x mirrored pixel, exact (not a BLAS dot: OpenBLAS may hand a
        # 50,000-element dot product to idle-spinning threads).
        cross = float(_mirror_product_sum(g))
        symmetry = (n * cross - total * total) / n_var  # covariance with the mirror / variance
    else:
        symmetry = 1.0
    p = hist / n
    nz = p[p > 0]
    feats = {"mean": mean, "std": std}
    feats.update(zip(_PERCENTILES, _histogram_percentiles(cdf, n, _PERCENTILES.values()), strict=True))
    feats.update({
        "edge": grad / max(std, 1.0), "fine": detail / max(std, 1.0),
        "edge_abs": grad, "fine_abs": detail,
        "symmetry": symmetry,
        "entropy": float(-(nz * np.log2(nz)).sum()),
        "saturated": float((hist[:3].sum() + hist[253:].sum()) / n),
    })
    return feats


def layout_vector(gray: np.ndarray, side: int = THUMB) -> np.ndarray:
    """A ``side x side`` area-averaged thumbnail, centred and scaled to unit length."""
    g = _as_uint8(gray)
    t = np.asarray(Image.fromarray(g).resize((side, side), Image.Resampling.BOX), np.float64).ravel()
    t = t - t.mean()
    n = float(np.linalg.norm(t))
    return t / n if n > 1e-9 else t


#: The exposed field (:func:`exposed_field`): an edge line belongs to a collimator border when
#: at least this share of its pixels ...
BORDER_LINE_SHARE = 0.75
#: ... lie within this many grey levels of the outermost lines' median (burned-in text or a
#: marker on the band leaves the rest of the line flat) ...
BORDER_LINE_STEP = 15.0
#: ... and that median is this close to the darkest or brightest pixel of the image, as a share
#: of the image's range (a border is the image's own black or white, whatever display curve
#: or black level a site uses).
BORDER_EXTREME = 60.0 / 255.0
#: At most this fraction of each side is taken for a border.
BORDER_MAX = 0.3


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))``, the same number, without ``np.median``: its NaN check
    imports ``numpy.ma`` (several ms of a one-file ``classify``'s start-up, issue 22)."""
    flat = np.ravel(values)
    n = flat.size
    if n == 0 or (flat.dtype.kind in "fc" and bool(np.isnan(flat).any())):
        return math.nan
    half = n // 2
    middle = slice(half, half + 1) if n % 2 else slice(half - 1, half + 1)
    part = np.partition(flat, list(range(middle.start, middle.stop)))
    if flat.dtype.kind in "iu":  # whole numbers: the same mean, without np.mean's overhead
        return float(part[half]) if n % 2 else (float(part[half - 1]) + float(part[half])) / 2
    return float(np.mean(part[middle]))


def _border_depth(lines: np.ndarray, darkest: float, brightest: float,
                  any_level: bool = False) -> int:
    """How many leading lines (rows of ``lines``, outermost first) are a flat band like the
    outermost ones, at the image's dark or bright end (or at any grey level: ``any_level``,
    :data:`FIELD_RULE_ANY_LEVEL`)."""
    edge = _median(lines[:2])
    span = max(brightest - darkest, 1.0)
    if not any_level and BORDER_EXTREME * span < edge - darkest < (1.0 - BORDER_EXTREME) * span:
        return 0
    limit = int(len(lines) * BORDER_MAX)
    near = np.abs(lines[:limit] - edge) < BORDER_LINE_STEP
    flat = near.mean(axis=1) >= BORDER_LINE_SHARE
    return int(np.argmin(flat)) if not flat.all() else limit


#: Noise-robust border search (:data:`FIELD_RULE_SMOOTHED`): lines are judged on the image
#: box-blurred by this radius (sensor noise, amplified by edge enhancement, no longer breaks
#: a band's flatness; the crop goes this much deeper than the smoothed band, whose edge the
#: blur spreads) ...
BORDER_SMOOTH = 2
#: ... and the image's black and white are these percentiles (burned-in text or a few noisy
#: pixels brighter than the band do not move them).
BORDER_LEVELS = (0.5, 99.5)


def exposed_field(gray: np.ndarray, smoothed: bool = False, any_level: bool = False
                  ) -> np.ndarray:
    """The image without its collimator borders: flat bands at the image's dark or bright
    end along any side (each at most :data:`BORDER_MAX` of that side) are cropped away, so
    that how a site collimates does not change the image statistics (issue 21). A view.

    ``smoothed``: the bands are found on the image box-blurred by :data:`BORDER_SMOOTH`, its
    black and white taken as the :data:`BORDER_LEVELS` percentiles (noisy, edge-enhanced
    borders; :data:`FIELD_RULE_SMOOTHED`). ``any_level`` (with ``smoothed``): a flat band is
    cropped whatever its grey level (:data:`FIELD_RULE_ANY_LEVEL`)."""
    g = np.asarray(gray)
    top, bottom, left, right = _field_margins(g, smoothed, any_level)[0]
    return g[top: g.shape[0] - bottom, left: g.shape[1] - right]


def _field_margins(g: np.ndarray, smoothed: bool, any_level: bool = False
                   ) -> tuple[tuple[int, int, int, int], np.ndarray | None]:
    """The rows and columns :func:`exposed_field` crops from ``g`` (top, bottom, left, right)
    and, when ``smoothed``, the histogram of the whole image in uint8 (else None)."""
    hist = None
    if smoothed:
        u = _as_uint8(g)
        im = Image.fromarray(u)
        hist = np.array(im.histogram(), dtype=np.float64) if u.ndim == 2 else _histogram(u)
        f = np.asarray(im.filter(ImageFilter.BoxBlur(BORDER_SMOOTH)))  # uint8: exact as it is
        cdf = np.cumsum(hist)
        lo, hi = _histogram_percentiles(cdf, u.size, BORDER_LEVELS)
    else:
        f = g.astype(np.float32)
        lo, hi = float(f.min()), float(f.max())
    depths = [_border_depth(lines, lo, hi, any_level) for lines in (f, f[::-1], f.T, f.T[::-1])]
    if smoothed:
        limits = [int(n * BORDER_MAX) for n in (g.shape[0], g.shape[0], g.shape[1], g.shape[1])]
        depths = [min(d + BORDER_SMOOTH, m) if d else 0 for d, m in zip(depths, limits, strict=True)]
    top, bottom, left, right = depths
    return (top, bottom, left, right), hist


#: ``scope['pixels']['layout_basis']`` of layouts fitted on histogram-equalised images
#: (:func:`equalized`): the same layout under any display curve (gamma, window, lifted
#: blacks). Absent in older metadata, whose layouts are of the image as it is.
LAYOUT_EQUALIZED = "histogram-equalised"


def equalized(gray: np.ndarray, hist: np.ndarray | None = None) -> np.ndarray:
    """The image with each grey level replaced by its mid-rank (0..255): any increasing
    grey-level curve applied to the image gives (nearly) the same result. ``hist``: the
    image's 256-bin histogram (float64 counts) when the caller has it already."""
    g = _as_uint8(gray)
    if hist is None:
        hist = np.bincount(g.ravel(), minlength=256).astype(np.float64)
    lut = np.rint(255.0 * (np.cumsum(hist) - hist / 2) / max(g.size, 1)).astype(np.uint8)
    return np.take(lut, g)


def layout_of(gray: np.ndarray, stats: dict, hist: np.ndarray | None = None) -> np.ndarray:
    """The layout vector :func:`check_pixels` compares with ``stats`` (``scope['pixels']``):
    of the equalised image when the layout was fitted so (``hist`` as :func:`equalized`)."""
    side = int(stats.get("thumb_size", THUMB))
    if stats.get("layout_basis") == LAYOUT_EQUALIZED:
        gray = equalized(gray, hist)
    return layout_vector(gray, side)


@dataclass(frozen=True)
class PreparedLayout:
    """The layout statistics of ``scope['pixels']`` as arrays (converted once per model)."""

    side: int
    mean: np.ndarray  # (side * side,)
    components: np.ndarray  # (k, side * side)
    scale: np.ndarray | None  # (k,) or None when the metadata has no layout_scale

    @classmethod
    def from_pixels(cls, pixels: dict) -> PreparedLayout:
        side = int(pixels.get("thumb_size", THUMB))
        scale = pixels.get("layout_scale")
        return cls(side, np.asarray(pixels["layout_mean"], np.float64),
                   np.asarray(pixels["layout_components"], np.float64).reshape(-1, side * side),
                   np.maximum(np.asarray(scale, np.float64), 1e-9) if scale else None)

    def residual(self, vector: np.ndarray) -> float:
        d = vector - self.mean
        return float(np.linalg.norm(d - (d @ self.components.T) @ self.components))

    def coefficient_distance(self, vector: np.ndarray) -> float | None:
        if self.scale is None:
            return None
        z = ((vector - self.mean) @ self.components.T) / self.scale
        return float(np.sqrt(np.mean(z * z)))

    def measures(self, vector: np.ndarray) -> tuple[float, float | None]:
        """(:meth:`residual`, :meth:`coefficient_distance`), the same numbers, projecting
        ``vector`` once."""
        d = vector - self.mean
        coef = d @ self.components.T
        residual = float(np.linalg.norm(d - coef @ self.components))
        if self.scale is None:
            return residual, None
        z = coef / self.scale
        return residual, float(np.sqrt(np.mean(z * z)))


_PREPARED_MAX = 8
_prepared: dict[int, tuple[dict, object, object, object, PreparedLayout]] = {}
_prepared_lock = threading.Lock()


def prepared_layout(pixels: dict) -> PreparedLayout:
    """:class:`PreparedLayout` of ``pixels``, cached per dict (a model's metadata is loaded
    once and reused for every image). The cache holds the dict, so its id is not reused while
    cached, and an entry is rebuilt when one of its lists is replaced; lists are assumed not
    to be edited in place."""
    key = id(pixels)
    parts = (pixels.get("layout_mean"), pixels.get("layout_components"), pixels.get("layout_scale"))
    entry = _prepared.get(key)
    if (entry is not None and entry[0] is pixels
            and all(a is b for a, b in zip(entry[1:4], parts, strict=True))
            and entry[4].side == int(pixels.get("thumb_size", THUMB))):
        return entry[4]
    prep = PreparedLayout.from_pixels(pixels)
    with _prepared_lock:
        while len(_prepared) >= _PREPARED_MAX:
            _prepared.pop(next(iter(_prepared)))
        _prepared[key] = (pixels, *parts, prep)
    return prep


def layout_residual(gray: np.ndarray, pixels: dict) -> float:
    """How much of the thumbnail the training X-rays' principal components leave unexplained
    (0 = fully explained; about 1.4 = unrelated)."""
    prep = prepared_layout(pixels)
    return prep.residual(layout_vector(gray, prep.side))


def layout_coefficient_distance(gray: np.ndarray, pixels: dict) -> float | None:
    """RMS of the thumbnail's principal-component coefficients in units of their training
    spread: large when the layout is made of chest-like parts in unusual amounts."""
    if not pixels.get("layout_scale"):
        return None
    prep = prepared_layout(pixels)
    return prep.coefficient_distance(layout_vector(gray, prep.side))


def check_pixels(gray: np.ndarray, scope: dict) -> ScopeVerdict:
    """Image statistics of the model input against ranges stored by the converter (of its
    exposed field, :func:`exposed_field`, when they were fitted so)."""
    stats = scope.get("pixels") if isinstance(scope, dict) else None
    gray, hist = guard_view_and_histogram(gray, stats)
    low, high = (stats.get("low", {}), stats.get("high", {})) if stats else ({}, {})
    f = pixel_features(gray, fine=any(n in low or n in high for n in FINE_FEATURES), hist=hist)
    if f["std"] < float(scope.get("min_std", 8.0)):
        return ScopeVerdict(False, f"Nearly uniform image (contrast {f['std']:.1f}); not a radiograph",
                            "pixels")
    if f["saturated"] > MAX_SATURATED:
        return ScopeVerdict(False, f"Mostly black or white ({f['saturated']:.0%} of pixels); "
                            "not a radiograph", "pixels")
    if f["edge"] > MAX_NOISE_EDGE:
        return ScopeVerdict(False, f"Pixel noise or fine pattern (edge density {f['edge']:.2f}); "
                            "not a radiograph", "pixels")
    if not stats:
        return ScopeVerdict(True)
    for name, words in PIXEL_FEATURES.items():
        if name not in low:  # no range (left out by the fit), or limited from below only
            continue
        value, lo = f[name], float(low[name])
        hi = float(high[name]) if name in high else math.inf
        if not lo <= value <= hi:
            limits = f"{lo:.3g} to {hi:.3g}" if name in high else f"{lo:.3g} or more"
            return ScopeVerdict(False, f"Image statistics unlike a chest X-ray: {words} {value:.3g} "
                                f"(training X-rays {limits})", "pixels")
    if "layout_components" not in stats:
        return ScopeVerdict(True)
    prep = prepared_layout(stats)
    res, coef = prep.measures(layout_of(gray, stats, hist))
    if "max_layout_residual" in stats:
        limit = float(stats["max_layout_residual"])
        if res > limit:
            return ScopeVerdict(False, f"Layout unlike a frontal chest X-ray (layout residual "
                                f"{res:.2f} > {limit:.2f})", "layout")
    if coef is not None and "max_layout_distance" in stats:
        limit = float(stats["max_layout_distance"])
        if coef > limit:
            return ScopeVerdict(False, f"Layout unlike a frontal chest X-ray (layout distance "
                                f"{coef:.2f} > {limit:.2f})", "layout")
    return ScopeVerdict(True)


# -- 3. the model's pooled features ------------------------------------------------------

def feature_distance(embedding: np.ndarray, scope: dict) -> float | None:
    """Standardised distance of pooled features from the training distribution, or None
    when the metadata carries no feature statistics."""
    mean = scope.get("embedding_mean")
    std = scope.get("embedding_std")
    if mean is None or std is None or not len(mean) or not len(std):
        return None
    centre, sd = _distance_arrays(mean, std)
    z = (np.asarray(embedding, np.float64) - centre) / sd
    return float(np.sqrt(np.mean(z * z)))


def _floored_spread(std: list[float]) -> np.ndarray:
    """The features' spreads as :func:`feature_distance` divides by them: features (nearly)
    constant on training images - dead units - would turn any activation into an enormous z,
    so each spread is floored at a tenth of the median feature's. (The median by sorting:
    np.median would import numpy.ma, tens of ms of every one-file `classify`.)"""
    sd = np.asarray(std, np.float64)
    ordered = np.sort(sd)
    median = 0.5 * float(ordered[(ordered.size - 1) // 2] + ordered[ordered.size // 2])
    return np.maximum(sd, max(0.1 * median, 1e-6))


_distances: dict[int, tuple[list, list, np.ndarray, np.ndarray]] = {}


def _distance_arrays(mean: list[float], std: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """``embedding_mean`` and :func:`_floored_spread` of ``embedding_std`` as arrays, converted
    once per pair of lists (a model's metadata is loaded once and reused for every image;
    cached as :func:`prepared_layout`: the entry holds the lists, so their ids are not reused
    while cached)."""
    entry = _distances.get(id(std))
    if entry is not None and entry[0] is mean and entry[1] is std:
        return entry[2], entry[3]
    arrays = np.asarray(mean, np.float64), _floored_spread(std)
    with _prepared_lock:
        while len(_distances) >= _PREPARED_MAX:
            _distances.pop(next(iter(_distances)))
        _distances[id(std)] = (mean, std, *arrays)
    return arrays


@dataclass(frozen=True)
class PreparedPattern:
    """``scope['embedding_pattern']`` as arrays (converted once per model)."""

    mean: np.ndarray  # (C,)
    components: np.ndarray  # (k, C)
    scale: np.ndarray  # (k,)

    @classmethod
    def from_dict(cls, pattern: dict) -> PreparedPattern:
        mean = np.asarray(pattern["mean"], np.float64)
        return cls(mean, np.asarray(pattern["components"], np.float64).reshape(-1, mean.size),
                   np.maximum(np.asarray(pattern["scale"], np.float64), 1e-9))

    def distances(self, embedding: np.ndarray) -> tuple[float, float]:
        """(RMS of the whitened principal-component coefficients, norm of what the
        components leave unexplained)."""
        d = np.asarray(embedding, np.float64).ravel() - self.mean
        coef = self.components @ d
        z = coef / self.scale
        return float(np.sqrt(np.mean(z * z))), float(np.linalg.norm(d - coef @ self.components))


_patterns: dict[int, tuple[dict, PreparedPattern]] = {}


def prepared_pattern(pattern: dict) -> PreparedPattern:
    """:class:`PreparedPattern` of ``pattern``, cached per dict (as :func:`prepared_layout`)."""
    entry = _patterns.get(id(pattern))
    if entry is not None and entry[0] is pattern:
        return entry[1]
    prep = PreparedPattern.from_dict(pattern)
    with _prepared_lock:
        while len(_patterns) >= _PREPARED_MAX:
            _patterns.pop(next(iter(_patterns)))
        _patterns[id(pattern)] = (pattern, prep)
    return prep


def feature_pattern_distances(embedding: np.ndarray, scope: dict) -> tuple[float, float] | None:
    """(coefficient distance, residual) of pooled features under the feature-pattern check
    (``scope['embedding_pattern']``), or None when the metadata has none."""
    pattern = scope.get("embedding_pattern")
    return prepared_pattern(pattern).distances(embedding) if pattern else None


def check_embedding(embedding: np.ndarray | None, scope: dict) -> ScopeVerdict:
    """The network's pooled features: their standardised distance from the training films
    (``max_distance``) and, when fitted, their principal-component pattern
    (``embedding_pattern``: films and acquisition variants)."""
    if embedding is None:
        return ScopeVerdict(True)
    dist = feature_distance(embedding, scope)
    limit = scope.get("max_distance")
    if dist is not None and limit is not None and dist > float(limit):
        return ScopeVerdict(
            False, f"Unlike the training X-rays (feature distance {dist:.2f} > {float(limit):.2f})",
            "embedding",
        )
    pattern = feature_pattern_distances(embedding, scope)
    if pattern is not None:
        stats = scope["embedding_pattern"]
        for value, key, words in ((pattern[0], "max_distance", "feature pattern distance"),
                                  (pattern[1], "max_residual", "feature pattern residual")):
            if value > float(stats[key]):
                return ScopeVerdict(False, f"Unlike the training X-rays ({words} {value:.2f} > "
                                    f"{float(stats[key]):.2f})", "embedding")
    return ScopeVerdict(True)


def reason_check(message: str) -> str:
    """Which check produced an out-of-scope message (for reports): dicom, colour, pixels,
    layout or embedding."""
    if message.startswith("DICOM"):
        return "dicom"
    if message.startswith("Colour"):
        return "colour"
    if message.startswith("Layout"):
        return "layout"
    if "feature distance" in message or "feature pattern" in message:
        return "embedding"
    return "pixels"


# -- fitting (converter side) ------------------------------------------------------------

def _as_gray_list(images: Iterable[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    out = []
    for im in images:
        a = np.asarray(im)
        if a.ndim == 3 and a.shape[-1] in (1, 3):
            a = a[..., 0] if a.shape[-1] == 1 else a.mean(axis=-1)
        if a.ndim != 2:
            raise ValueError(f"images must be (S, S) or (S, S, 1|3); received shape {a.shape}")
        out.append(a if a.dtype == np.uint8 else np.clip(np.rint(a), 0, 255).astype(np.uint8))
    return out


def _pca(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    mean = vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    return mean, vt[:k]


def _residuals(vectors: np.ndarray, mean: np.ndarray, comps: np.ndarray) -> np.ndarray:
    d = vectors - mean
    return np.linalg.norm(d - (d @ comps.T) @ comps, axis=1)


def _coef_distances(train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Residuals and coefficient distances of ``test`` under components fitted on ``train``."""
    mean, comps = _pca(train, k)
    scale = np.maximum(((train - mean) @ comps.T).std(axis=0), 1e-9)
    z = ((test - mean) @ comps.T) / scale
    return _residuals(test, mean, comps), np.sqrt(np.mean(z * z, axis=1))


#: The fitting rule (issue 14 item 8): the guard must accept at least this fraction of the
#: X-rays it was fitted on. Under the old rule (quantile ranges only, 0.995 layout quantile)
#: 20 of the 5,216 training films were refused.
MIN_FITTED_ACCEPTANCE = 0.999


def _round_up(value: float) -> float:
    """A limit rounded outwards to 5 decimals (what metadata.json stores)."""
    return float(np.ceil(float(value) * 1e5) / 1e5)


#: ``scope['pixels']['field']`` of statistics fitted on (and checked against) the exposed
#: field (:func:`exposed_field`); absent in older metadata, which is checked on whole images.
FIELD_RULE = "collimation borders cropped"
#: ``field`` of statistics fitted on the exposed field found on a smoothed image
#: (:func:`exposed_field` with ``smoothed``): noisy, edge-enhanced borders are cropped too.
FIELD_RULE_SMOOTHED = "collimation borders cropped, found on a smoothed image"
#: ``field`` of statistics fitted on the exposed field found on a smoothed image, its flat
#: bands cropped at any grey level (:func:`exposed_field` with ``smoothed`` and
#: ``any_level``): a white or black band that another display curve, a lowered white point or
#: burned-in text leaves mid-grey is cropped too (issue 21, round 5).
FIELD_RULE_ANY_LEVEL = "collimation borders cropped at any grey level, found on a smoothed image"
#: Each field rule's (smoothed, any_level) arguments of :func:`exposed_field`.
FIELD_RULES = {FIELD_RULE: (False, False), FIELD_RULE_SMOOTHED: (True, False),
               FIELD_RULE_ANY_LEVEL: (True, True)}


def guard_view(gray: np.ndarray, stats: dict | None) -> np.ndarray:
    """What the pixel checks of ``stats`` (``scope['pixels']``) look at: the exposed field
    when they were fitted on it, else the whole image."""
    rule = stats.get("field") if stats else None
    return exposed_field(gray, *FIELD_RULES[rule]) if rule in FIELD_RULES else gray


def guard_view_and_histogram(gray: np.ndarray, stats: dict | None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`guard_view` in uint8 (the pixels :func:`pixel_features` and :func:`layout_of`
    read) and its 256-bin histogram (float64 counts), found once for both: from the whole
    image's, which the smoothed border search counts anyway, less the cropped bands'."""
    g = np.asarray(gray)
    rule = stats.get("field") if stats else None
    if rule not in FIELD_RULES:
        u = _as_uint8(g)
        return u, _histogram(u)
    (top, bottom, left, right), hist = _field_margins(g, *FIELD_RULES[rule])
    u = _as_uint8(g)
    rows, cols = u.shape
    field = u[top: rows - bottom, left: cols - right]
    if hist is None:
        return field, _histogram(field)
    for band in (u[:top], u[rows - bottom:], u[top: rows - bottom, :left],
                 u[top: rows - bottom, cols - right:]):
        if band.size:
            hist = hist - _histogram(band)
    return field, hist


def fit_pixel_stats(images: Iterable[np.ndarray] | np.ndarray, tail: float = 0.002,
                    margin: float = 0.15, layout_quantile: float = 0.999,
                    layout_margin: float = 1.1, seed: int = 0,
                    variants: Iterable[np.ndarray] | np.ndarray | None = None,
                    crop_field: bool = False, variant_layout_quantile: float = 0.99,
                    smoothed_field: bool = False, unchecked: Collection[str] = (),
                    variant_distance_quantile: float | None = None,
                    lower_only: Collection[str] = (), any_level_field: bool = False) -> dict:
    """``scope['pixels']`` from in-scope TRAINING X-rays (model inputs, ``(S, S)`` uint8 or
    ``(S, S, 1)`` float 0..255). At least 1,000 images are recommended; fit on every training
    film when possible (``scripts/refit_scope.py`` does).

    Each feature's accepted range is its ``tail``..``1 - tail`` training quantile range widened
    by ``margin`` times that range on both sides, and in any case the whole range of the fitted
    images (rounded outwards), so no fitted film is refused for a feature. The layout limits
    are the ``layout_quantile`` of held-out residuals and coefficient distances (2-fold:
    components fitted on one half, measured on the other, so not flattered by the images the
    components were fitted on; at least the same quantile of the fitted films' own) times
    ``layout_margin``.

    The defaults were chosen on the shipped model (docs/image-path.md): fitted on all 5,216
    training films they refuse 4 of them and still catch 179 of the 179 generated non-chest
    inputs (the previous rule, 0.001 tails x 0.25 and a 0.995 layout quantile x 1.2 fitted on
    1,000 films, refused 20 training films). The margins are tuned on that corpus, so its
    catch rate is an optimistic estimate.

    ``variants`` (issue 21): acquisition variants of the films (:mod:`scope_augment`); each
    feature's range is the films' range (as above) joined with the variants' own ``tail``
    quantile range (no margin), the features of :data:`ACQUISITION_DEPENDENT` get no range,
    and the layout components are fitted on the films alone while its limits reach the
    variants' own ``variant_layout_quantile``. ``crop_field``: statistics of the exposed field
    (:func:`exposed_field`), recorded as ``field`` so that :func:`check_pixels` crops the same
    way; ``smoothed_field`` and ``any_level_field`` choose how its bands are found
    (:data:`FIELD_RULES`). ``lower_only``: features given a lower limit only (no ``high``
    entry).
    """
    grays = _as_gray_list(images)
    if len(grays) < 50:
        raise ValueError(f"need at least 50 training images for pixel statistics, received {len(grays)}")
    extra = _as_gray_list(variants) if variants is not None else []
    # the crop the recorded rule makes (any level refines the smoothed search only)
    rule = next(k for k, v in FIELD_RULES.items()
                if v == (smoothed_field, smoothed_field and any_level_field))
    if crop_field:
        grays = [exposed_field(g, *FIELD_RULES[rule]) for g in grays]
        extra = [exposed_field(g, *FIELD_RULES[rule]) for g in extra]
    names = [n for n in PIXEL_FEATURES
             if not (extra and n in ACQUISITION_DEPENDENT) and n not in unchecked]
    rows = [pixel_features(g) for g in grays]
    feats = np.array([[row[n] for n in names] for row in rows])
    lo_q = np.quantile(feats, tail, axis=0)
    hi_q = np.quantile(feats, 1 - tail, axis=0)
    width = hi_q - lo_q
    low = np.minimum(lo_q - margin * width, feats.min(axis=0))
    high = np.maximum(hi_q + margin * width, feats.max(axis=0))
    if extra:
        # The variants extend a side only as far as they reach (their own tail quantiles,
        # no margin): acquisition differences widen what they move and nothing else.
        var = np.array([[pixel_features(g)[n] for n in names] for g in extra])
        low = np.minimum(low, np.quantile(var, tail, axis=0))
        high = np.maximum(high, np.quantile(var, 1 - tail, axis=0))
    low, high = np.floor(low * 1e5) / 1e5, np.ceil(high * 1e5) / 1e5
    vectors = np.stack([layout_vector(equalized(g) if crop_field else g) for g in grays])
    k = min(LAYOUT_COMPONENTS, len(grays) // 4)
    perm = np.random.default_rng(seed).permutation(len(vectors))
    a, b = perm[::2], perm[1::2]
    (res_b, coef_b), (res_a, coef_a) = (_coef_distances(vectors[a], vectors[b], k),
                                        _coef_distances(vectors[b], vectors[a], k))
    held_out, held_coef = np.concatenate([res_b, res_a]), np.concatenate([coef_b, coef_a])
    mean, comps = _pca(vectors, k)
    scale = ((vectors - mean) @ comps.T).std(axis=0)
    # In-sample figures as a floor: with few or near-identical films the held-out ones can
    # come out smaller than the fitted films' own (on real films they agree within 2%).
    own_res, own_coef = _coef_distances(vectors, vectors, k)
    res_limit = max(np.quantile(held_out, layout_quantile), np.quantile(own_res, layout_quantile))
    coef_limit = max(np.quantile(held_coef, layout_quantile),
                     np.quantile(own_coef, layout_quantile))
    if extra:
        # The components stay the films' own (what a chest film looks like); the limits reach
        # as far as most variants' layouts do (tight collimation, rotation, markers). Not all:
        # the last percent of the variants' layouts overlaps grey photographs and CT slices
        # (measured on the non-chest corpus, docs/acquisition-shift.md).
        var_vectors = np.stack([layout_vector(equalized(g) if crop_field else g) for g in extra])
        var_res, var_coef = _coef_distances(vectors, var_vectors, k)
        res_limit = max(res_limit, np.quantile(var_res, variant_layout_quantile))
        coef_limit = max(coef_limit, np.quantile(var_coef, variant_distance_quantile
                                                  or variant_layout_quantile))
    r5 = lambda arr: [round(float(v), 5) for v in np.ravel(arr)]  # noqa: E731
    field = ({"field": rule,
              "layout_basis": LAYOUT_EQUALIZED} if crop_field else {})
    return field | {
        "features": names,
        "low": {n: round(float(v), 5) for n, v in zip(names, low, strict=True)},
        "high": {n: round(float(v), 5) for n, v in zip(names, high, strict=True)
                 if n not in lower_only},
        "rule": f"training quantiles {tail:g}..{1 - tail:g} widened by {margin:g} x their range, "
                "and at least the fitted images' min..max",
        "thumb_size": THUMB,
        "layout_mean": r5(mean),
        "layout_components": [r5(c) for c in comps],
        "max_layout_residual": _round_up(res_limit * layout_margin),
        "layout_scale": r5(scale),
        "max_layout_distance": _round_up(coef_limit * layout_margin),
        "layout_rule": f"{layout_quantile:g} quantile of 2-fold held-out (at least in-sample) "
                       + (f"residuals and distances, or the variants' {variant_layout_quantile:g} "
                          f"(residual) and {variant_distance_quantile or variant_layout_quantile:g} "
                          "(distance) quantiles when larger, " if extra
                          else "residuals and distances ")
                       + f"x {layout_margin:g}, "
                       f"{k} components of {THUMB}x{THUMB} thumbnails",
        "n_images": len(grays),
    }


def fit_embedding_pattern(films: np.ndarray, variants: np.ndarray, per_film: int,
                          k: int = PATTERN_COMPONENTS, quantile: float = PATTERN_QUANTILE,
                          seed: int = 0) -> dict:
    """``scope['embedding_pattern']``: the principal components of the pooled features of
    training films AND their acquisition variants (``variants``: ``per_film`` consecutive rows
    per film), with limits on the whitened coefficient distance and the residual at the
    ``quantile`` of held-out films and of held-out variants (2-fold by film: a film and its
    variants on one side), whichever is larger."""
    films = np.asarray(films, np.float64)
    variants = np.asarray(variants, np.float64)
    if len(variants) != per_film * len(films):
        raise ValueError(f"expected {per_film} variants per film: {len(variants)} for {len(films)}")
    k = min(k, len(films) // 4)

    def fit(x: np.ndarray) -> PreparedPattern:
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        return PreparedPattern(mean, vt[:k], np.maximum(((x - mean) @ vt[:k].T).std(axis=0), 1e-9))

    side = np.random.default_rng(seed).permutation(len(films)) % 2 == 0
    held: dict[str, list[np.ndarray]] = {"films": [], "variants": []}
    for s in (side, ~side):
        vs = np.repeat(s, per_film)
        prep = fit(np.concatenate([films[s], variants[vs]]))
        held["films"].append(np.array([prep.distances(e) for e in films[~s]]))
        held["variants"].append(np.array([prep.distances(e) for e in variants[~vs]]))
    limits = np.max([np.quantile(np.concatenate(held[g]), quantile, axis=0) for g in held], axis=0)
    prep = fit(np.concatenate([films, variants]))
    r5 = lambda arr: [round(float(v), 5) for v in np.ravel(arr)]  # noqa: E731
    return {"mean": r5(prep.mean), "components": [r5(c) for c in prep.components],
            "scale": r5(prep.scale), "max_distance": _round_up(limits[0]),
            "max_residual": _round_up(limits[1]),
            "rule": f"{k} principal components of the pooled features of {len(films)} training "
                    f"films and {len(variants)} acquisition variants; limits at the "
                    f"{quantile:g} quantile of 2-fold held-out films and variants",
            "n_images": len(films) + len(variants)}


def fit_scope_stats(embeddings: np.ndarray | None, quantile: float = 0.999, margin: float = 1.25,
                    images: Iterable[np.ndarray] | np.ndarray | None = None,
                    variants: int | None = None, seed: int = 0,
                    embed: Callable[[list[np.ndarray]], np.ndarray] | None = None,
                    without: Collection[str] = ()) -> dict:
    """Statistics for ``metadata.json['scope']`` from in-scope TRAINING X-rays.

    ``embeddings`` (N, C): pooled features; stores per-feature mean and std, and a distance
    limit at the given quantile of the training images' own distances times a safety margin.
    ``images`` (optional, see :func:`fit_pixel_stats`): adds ``scope['pixels']``, the image
    statistic ranges and layout components, fitted on the images and ``variants`` acquisition
    variants of each (:mod:`pneumonia_core.scope_augment`; default
    ``scope_augment.DEFAULT_VARIANTS``, 0 for none), so chest films from other equipment stay
    in range (issue 21). Either may be None, not both.

    ``embed`` (the model's pooled features of a list of model inputs; with ``embeddings``,
    ``images`` and variants): adds the feature-pattern check (:func:`fit_embedding_pattern`)
    and fits the pixel and layout checks as :data:`WITH_PATTERN_CHECK` says; the feature
    distance limit then covers the variants too (round 3 of issue 21). ``without``: steps the
    variants leave out (held-out validation, ``bench/guard_holdout.py``).
    """
    from pneumonia_core import scope_augment

    if variants is None:
        variants = scope_augment.DEFAULT_VARIANTS
    stats: dict = {"min_std": 8.0}
    if embeddings is None and images is None:
        raise ValueError("need embeddings, images, or both")
    if embeddings is not None:
        emb = np.asarray(embeddings, np.float64)
        if emb.ndim != 2 or len(emb) < 10:
            raise ValueError(f"need (N>=10, C) embeddings, received shape {emb.shape}")
        mean = emb.mean(axis=0)
        std = emb.std(axis=0) + 1e-6
        stats.update({"embedding_mean": mean.tolist(), "embedding_std": std.tolist()})
        dists = np.array([feature_distance(e, stats) for e in emb])
        stats["max_distance"] = float(np.quantile(dists, quantile) * margin)
        stats["distance_rule"] = f"{quantile:g} quantile of training-image distances x {margin:g}"
    if images is not None:
        images = _as_gray_list(images)
        extra = (scope_augment.acquisition_variants(images, variants, seed, without)
                 if variants else None)
        var_emb = (np.asarray(embed(extra), np.float64)
                   if extra and embed is not None and embeddings is not None else None)
        stats["pixels"] = fit_pixel_stats(images, variants=extra, crop_field=bool(variants),
                                          **(WITH_PATTERN_CHECK if var_emb is not None else {}))
        if var_emb is not None:
            stats["embedding_pattern"] = fit_embedding_pattern(emb, var_emb, variants, seed=seed)
            # The standardised distance's limit covers the variants too (same rule).
            both = np.concatenate([dists, [feature_distance(e, stats) for e in var_emb]])
            stats["max_distance"] = float(np.quantile(both, quantile) * margin)
            stats["distance_rule"] = (f"{quantile:g} quantile of training-image and acquisition-"
                                      f"variant distances x {margin:g}")
        if extra:
            stats["pixels"]["acquisition_variants"] = {
                "per_film": variants, "seed": seed, "rule": scope_augment.DESCRIPTION}
    if embeddings is not None and images is not None:
        stats["fitted"] = fitted_acceptance(stats, images, embeddings)
        if stats["fitted"]["acceptance"] < MIN_FITTED_ACCEPTANCE:
            log.warning("the fitted guard refuses %d of the %d films it was fitted on",
                        stats["fitted"]["refused"], stats["fitted"]["images"])
    return stats


def fitted_acceptance(stats: dict, images: Iterable[np.ndarray] | np.ndarray,
                      embeddings: np.ndarray) -> dict:
    """How many of the fitted films the guard of ``stats`` accepts (pixel, layout and feature
    checks; the films are in-scope X-rays): ``{images, refused, acceptance, min_acceptance}``."""
    grays = _as_gray_list(images)
    refused = 0
    for gray, emb in zip(grays, np.asarray(embeddings), strict=True):
        verdict = check_pixels(gray, stats)
        if verdict.in_scope:
            verdict = check_embedding(emb, stats)
        refused += not verdict.in_scope
    return {"images": len(grays), "refused": refused,
            "acceptance": round(1.0 - refused / max(len(grays), 1), 5),
            "min_acceptance": MIN_FITTED_ACCEPTANCE}
