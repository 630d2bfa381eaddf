"""The public acquisition-shift suite (issue 21): real films made to look as if another site's
equipment had acquired them, read through the app's own classification path.

Each FAMILY is one kind of difference between sites, with its parameters drawn at random PER
FILM from wide ranges (no constant is tuned to a model or a guard; the maintainers check the
same families on their own held-back films with parameters nobody here sees):

- ``unsharp``: vendor edge enhancement (unsharp mask, radius 2-40 px, amount 0.2-1.5);
- ``gamma_lut``: another display curve (gamma 0.45-2.2, or an S-shaped LUT);
- ``lifted_blacks``: raised black level and lower contrast (black 3-30 %, white 65-100 %);
- ``noise``: sensor noise, signal-dependent, white or slightly correlated (sigma 2-10 of 255, correlated over 0-2 px);
- ``collimation``: collimator borders, black or white, on one to four sides (3-20 % each);
- ``rotation``: positioning, -10..10 degrees (cropped, no fill);
- ``resolution_bitdepth``: stored at 20-100 % of the size, as 8-bit PNG, 12-bit DICOM
  (stored range part of 0..4095, no window) or 16-bit PNG;
- ``text_markers``: burned-in laterality letters, labels, dates and marker boxes;
- ``combined``: three to all of the above on the same film, in acquisition order;
- ``unsharp_noise_collimation``: the issue's milder combination, exactly those three (borders,
  then sensor noise, then edge enhancement) on every film.

``plain`` is the film as given (the reference). Every transformed film is ENCODED as a file
(PNG, 16-bit PNG or DICOM) and read by :func:`pneumonia_core.pipeline.classify_bytes`, so
decoding, the guard and the model are exactly what a site would get. Films the guard refuses
before the model runs are still scored (decode, model input, model) so the model's own figures
cover every film ("guard bypassed"); the guard's refusals are reported apart.

Run: ``python -m bench.shift_suite --data ../shared/data/chest_xray/test_public`` (prints the
per-family table; ``--json`` writes every film's result). Shifted copies never leave memory.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from converter.shift_card import shift_table as table
from pneumonia_core.decision import OperatingPoint

log = logging.getLogger(__name__)

#: Longest side films are worked on and stored at, as a detector would give them (the public
#: films are 224 x 224 and are brought up to it, bicubic; the app brings them back down to 224
#: through its full-size path). Spatial parameters below are in pixels at this size.
WORK_SIDE = 1024
LABELS = ("NORMAL", "PNEUMONIA")
Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# -- transforms: float32 images 0..255 (H, W) in, float32 out ---------------------------

def apply_profile_to_bundle(bundle: Any, profile_path: str) -> tuple[Any, OperatingPoint]:
    """(bundle, operating point with the profile's calibration, threshold and guard), for
    benchmarks that read films as a site with ``profile_path`` would."""
    from pneumonia_core.site_profile import load_profile

    meta = bundle.metadata
    profile = load_profile(profile_path, meta.sha256)
    return bundle, profile.operating_point(meta.labels, meta.positive_label, "benchmark",
                                           base_scope=meta.scope)


def _blur(img: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur (sigma ``radius`` pixels) of a float image."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img.astype(np.float32), radius, mode="reflect", truncate=3.0)


def unsharp(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Edge enhancement: ``x + a (x - blur_r(x))``, one or two frequency bands."""
    out = img.copy()
    for _ in range(int(rng.integers(1, 3))):
        radius = float(np.exp(rng.uniform(np.log(2.0), np.log(40.0))))
        out = out + rng.uniform(0.2, 1.5) * (out - _blur(out, radius))
    return np.clip(out, 0, 255)


def gamma_lut(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another display curve: a power law or an S-shaped (logistic) LUT."""
    x = np.clip(img / 255.0, 0, 1)
    if rng.random() < 0.5:
        g = float(np.exp(rng.uniform(np.log(0.45), np.log(2.2))))
        return 255.0 * np.power(x, g)
    slope, centre = rng.uniform(3.0, 8.0), rng.uniform(0.35, 0.65)
    lo, hi = 1 / (1 + np.exp(slope * centre)), 1 / (1 + np.exp(-slope * (1 - centre)))
    return 255.0 * (1 / (1 + np.exp(-slope * (x - centre))) - lo) / (hi - lo)


def lifted_blacks(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Raised black level and a lower white point: less contrast."""
    black, white = rng.uniform(0.03, 0.30) * 255, rng.uniform(0.65, 1.0) * 255
    return black + (white - black) * np.clip(img, 0, 255) / 255.0


def noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: quantum-like (grows with signal) plus electronic, white or correlated."""
    sigma = rng.uniform(2.0, 10.0)
    quantum = rng.uniform(0.0, 1.0)  # share that scales with sqrt(signal)
    n = rng.standard_normal(img.shape).astype(np.float32)
    corr = rng.uniform(0.0, 2.0)
    if corr > 0.3:
        n = _blur(n, corr)
        n /= max(float(n.std()), 1e-6)
    scale = sigma * ((1 - quantum) + quantum * np.sqrt(np.clip(img, 0, 255) / 128.0))
    return np.clip(img + scale * n, 0, 255)


def collimation(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Collimator borders: black or white bands on one to four sides, soft or sharp edged."""
    h, w = img.shape
    mask = np.zeros((h, w), np.float32)
    sides = [s for s in range(4) if rng.random() < 0.5] or [int(rng.integers(4))]
    for side in sides:
        frac = rng.uniform(0.03, 0.20)
        if side == 0:
            mask[:, : int(frac * w)] = 1
        elif side == 1:
            mask[:, w - int(frac * w):] = 1
        elif side == 2:
            mask[: int(frac * h)] = 1
        else:
            mask[h - int(frac * h):] = 1
    soft = rng.uniform(0.0, 4.0)
    if soft > 0.5:
        mask = _blur(mask, soft)
    value = rng.uniform(215, 255) if rng.random() < 0.5 else rng.uniform(0, 35)
    texture = rng.normal(0, rng.uniform(0, 4), img.shape).astype(np.float32)
    return np.clip(img * (1 - mask) + (value + texture) * mask, 0, 255)


def rotation(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positioning: rotated by up to 10 degrees either way, cropped so no fill shows."""
    angle = rng.uniform(-10, 10)
    h, w = img.shape
    rot = np.asarray(Image.fromarray(img.astype(np.float32), mode="F")
                     .rotate(angle, resample=Image.Resampling.BILINEAR), np.float32)
    s = abs(math.sin(math.radians(angle)))
    dy, dx = int(math.ceil(s * w / 2)) + 1, int(math.ceil(s * h / 2)) + 1
    return rot[dy: h - dy, dx: w - dx]


def resolution(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another pixel spacing: the film stored at 20-100 % of its size, various filters."""
    f = rng.uniform(0.2, 1.0)
    h, w = img.shape
    size = (max(int(w * f), 64), max(int(h * f), 64))
    method = [Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BOX,
              Image.Resampling.LANCZOS][int(rng.integers(4))]
    return np.asarray(Image.fromarray(img.astype(np.float32), mode="F").resize(size, method),
                      np.float32)


_WORDS = ("R", "L", "AP", "PA", "PORTABLE", "SUPINE", "ERECT", "SITTING", "INSP", "CHEST",
          "2019-03-14 10:22", "ID 0042731", "kVp 85 mAs 2.5", "ST. ELSEWHERE")


def text_markers(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Burned-in annotations: one to four labels or marker boxes, bright or dark."""
    h, w = img.shape
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L")
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(1, 5))):
        size = max(int(h * rng.uniform(0.02, 0.07)), 8)
        value = int(rng.uniform(200, 255)) if rng.random() < 0.75 else int(rng.uniform(0, 40))
        x, y = int(rng.uniform(0.02, 0.8) * w), int(rng.uniform(0.02, 0.9) * h)
        if rng.random() < 0.25:
            draw.rectangle([x, y, x + 2 * size, y + 2 * size], outline=value,
                           width=max(size // 6, 1))
        else:
            word = _WORDS[int(rng.integers(len(_WORDS)))]
            draw.text((x, y), word, fill=value, font=ImageFont.load_default(size=size))
    return np.asarray(im, np.float32)


#: Encodings of the ``resolution_bitdepth`` family (and the combined one).
ENCODINGS = ("png8", "dicom12", "png16")


def encode(img: np.ndarray, kind: str, rng: np.random.Generator | None = None) -> bytes:
    """The film as a file: 8-bit PNG, 12-bit DICOM (no window; stored range a random part of
    0..4095) or 16-bit PNG (full range)."""
    x = np.clip(img, 0, 255) / 255.0
    buf = io.BytesIO()
    if kind == "png8":
        Image.fromarray(np.rint(x * 255).astype(np.uint8), mode="L").save(buf, "PNG",
                                                                            compress_level=1)
        return buf.getvalue()
    if kind == "png16":
        Image.fromarray(np.rint(x * 65535).astype(np.uint16)).save(buf, "PNG", compress_level=1)
        return buf.getvalue()
    if kind == "dicom12":
        from bench.dicom_films import dx_dicom_bytes

        r = rng or np.random.default_rng(0)
        lo, hi = r.uniform(0, 0.2) * 4095, r.uniform(0.7, 1.0) * 4095
        return dx_dicom_bytes(np.rint(lo + (hi - lo) * x).astype(np.uint16), bits_stored=12)
    raise ValueError(f"unknown encoding {kind!r}; choose one of {ENCODINGS}")


#: Single families, in the order the combined shift applies them (acquisition order:
#: positioning, collimation, detector noise, vendor processing, display curve, annotations,
#: storage). Each maps to its transform.
FAMILIES: dict[str, Transform | None] = {
    "rotation": rotation,
    "collimation": collimation,
    "noise": noise,
    "unsharp": unsharp,
    "gamma_lut": gamma_lut,
    "lifted_blacks": lifted_blacks,
    "text_markers": text_markers,
    "resolution_bitdepth": resolution,
}
#: Fixed combinations of single families (applied in acquisition order): the issue's
#: "edge enhancement + noise + collimation", milder than ``combined``'s three to eight.
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "unsharp_noise_collimation": ("collimation", "noise", "unsharp"),
}
#: Appended after ``combined`` so that the families before it keep their seeds (film_seed).
SUITE = ("plain", *FAMILIES, "combined", *COMBINATIONS)


def shifted_bytes(img: np.ndarray, family: str, rng: np.random.Generator) -> bytes:
    """One film under one family (or ``plain``/``combined``) as file bytes."""
    if family == "plain":
        return encode(img, "png8")
    if family == "combined":
        names = list(FAMILIES)
        k = int(rng.integers(3, len(names) + 1))
        chosen = set(rng.choice(names, size=k, replace=False).tolist())
        out = img
        for name in names:  # acquisition order
            if name in chosen:
                out = FAMILIES[name](out, rng)  # type: ignore[misc]
        kind = ENCODINGS[int(rng.integers(3))] if "resolution_bitdepth" in chosen else "png8"
        return encode(out, kind, rng)
    if family in COMBINATIONS:
        out = img
        for name in FAMILIES:  # acquisition order
            if name in COMBINATIONS[family]:
                out = FAMILIES[name](out, rng)  # type: ignore[misc]
        return encode(out, "png8")
    transform = FAMILIES[family]
    out = transform(img, rng)  # type: ignore[misc]
    kind = ENCODINGS[int(rng.integers(3))] if family == "resolution_bitdepth" else "png8"
    return encode(out, kind, rng)


def load_working(path: Path, side: int = WORK_SIDE) -> np.ndarray:
    """A film decoded by the app's loader, resized to ``side`` pixels on its long side (box
    filter down, bicubic up), float32 0..255."""
    from pneumonia_core.imageio import decode_bytes, read_file_bytes

    gray = decode_bytes(read_file_bytes(path)).pixels
    im = Image.fromarray(gray, mode="L").convert("F")
    f = side / max(im.size)
    if f != 1:
        im = im.resize((max(int(round(im.width * f)), 1), max(int(round(im.height * f)), 1)),
                       Image.Resampling.BOX if f < 1 else Image.Resampling.BICUBIC)
    return np.clip(np.asarray(im, np.float32), 0, 255)


# -- running ----------------------------------------------------------------------------

@dataclass
class FilmResult:
    family: str
    file: str
    label: int
    status: str
    check: str  # which guard check refused ("" when read)
    logit: float | None
    probability: float | None  # calibrated, at the model's (or the profile's) point
    model: str = ""  # which model folder scored it (model_label), when several are compared


def film_seed(seed: int, film: int | str, family: str) -> np.random.Generator:
    """The random draws of one film (its file name, or a number) under one family: the same
    film gets the same draws in any subset or order, so runs on subsets pair up."""
    key = zlib.crc32(film.encode()) if isinstance(film, str) else int(film)
    return np.random.default_rng([seed, key, SUITE.index(family)])


_worker: dict[str, Any] = {}


def model_label(bundle: Any) -> str:
    """How a model folder is named in the results: name, version and short hash, and the
    folder's digest (two folders with one model file and different guards stay apart)."""
    return (f"{bundle.metadata.name} {bundle.metadata.version} ({bundle.short_hash}, folder "
            f"{bundle.folder_digest[:12]})")


def _model_dirs(model_dir: str | Sequence[str | None] | None) -> list[str | None]:
    return list(model_dir) if isinstance(model_dir, (list, tuple)) else [model_dir]  # type: ignore[list-item]


def _init_worker(model_dirs: Sequence[str | None], profile: str | None) -> None:
    from pneumonia_core.model import ModelBundle

    _worker["models"] = []
    for model_dir in model_dirs:
        bundle, point = ModelBundle.load(model_dir), None
        if profile:
            bundle, point = apply_profile_to_bundle(bundle, profile)
        _worker["models"].append((model_label(bundle), bundle, point))


def score_bytes(name: str, data: bytes, bundle: Any, point: Any = None) -> tuple[str, str, float | None, float | None]:
    """(status, refusing check, logit, calibrated P) of file bytes through the app's path;
    a film the guard refuses before the model is scored anyway (guard bypassed)."""
    from pneumonia_core import scope
    from pneumonia_core.imageio import decode_bytes, to_model_input
    from pneumonia_core.pipeline import STATUS_OK, STATUS_OUT_OF_SCOPE, classify_bytes

    res = classify_bytes(name, data, bundle, point)
    check = scope.reason_check(res.message) if res.status == STATUS_OUT_OF_SCOPE else ""
    logit = res.logit
    if logit is None and res.status == STATUS_OUT_OF_SCOPE:
        gray = to_model_input(decode_bytes(data, draft_size=bundle.input_size).pixels,
                              bundle.input_size)
        logit = bundle.predict(gray).logit
    op = point if point is not None else bundle.operating_point
    prob = res.probability if res.status == STATUS_OK else (
        op.probability(logit) if logit is not None else None)
    return res.status, check, logit, prob


def _run_film(args: tuple[int, str, int, Sequence[str], int]) -> list[FilmResult]:
    _index, path, label, families, seed = args
    img = load_working(Path(path))
    out = []
    for fam in families:
        data = shifted_bytes(img, fam, film_seed(seed, Path(path).name, fam))
        for name, bundle, point in _worker["models"]:  # the same shifted file for every model
            status, check, logit, prob = score_bytes(Path(path).name, data, bundle, point)
            out.append(FilmResult(fam, Path(path).name, label, status, check, logit, prob, name))
    return out


def list_films(folders: Sequence[Path]) -> list[tuple[str, int]]:
    """(path, label) of every image under ``folder/{NORMAL,PNEUMONIA}``, sorted."""
    from pneumonia_core.imageio import IMAGE_SUFFIXES

    films = []
    for folder in folders:
        for label, name in enumerate(LABELS):
            d = Path(folder) / name
            if d.is_dir():
                films += [(str(p), label) for p in sorted(d.iterdir())
                          if p.suffix.lower() in IMAGE_SUFFIXES]
    if not films:
        raise FileNotFoundError(f"no films under {[str(f) for f in folders]}/{{NORMAL,PNEUMONIA}}")
    return films


def every_kth(films: Sequence[tuple[str, int]], limit: int | None) -> list[tuple[str, int]]:
    """THE film subset of every ``--limit``: every k-th film, k the smallest step that keeps at
    most ``limit`` films (all films when ``limit`` is 0, None or not smaller). With 314
    test_public films and 157 it is every second film, the held-out half the results name."""
    films = list(films)
    if not limit or limit >= len(films):
        return films
    return films[::math.ceil(len(films) / limit)]


def held_out_and_design(films: Sequence[tuple[str, int]]
                        ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(held-out half, design half): the films ``--limit`` of half their number keeps (every
    second film, the held-out half the results name) and the others."""
    films = list(films)
    held = every_kth(films, (len(films) + 1) // 2)
    kept = {f for f, _ in held}
    return held, [f for f in films if f[0] not in kept]


def run_suite(films: Sequence[tuple[str, int]],
              model_dir: str | Sequence[str | None] | None = None,
              families: Sequence[str] = SUITE, seed: int = 0, workers: int = 2,
              profile: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[FilmResult]:
    """Every film under every family, ``workers`` processes; results in film order.
    ``model_dir`` may list several model folders: each shifted file is made once and scored
    by every model (``FilmResult.model`` says which), so their figures pair up."""
    unknown = set(families) - set(SUITE)
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; choose from {SUITE}")
    jobs = [(i, p, y, tuple(families), seed) for i, (p, y) in enumerate(films)]
    results: list[FilmResult] = []
    dirs = _model_dirs(model_dir)
    if workers <= 1:
        _init_worker(dirs, profile)
        for k, job in enumerate(jobs):
            results += _run_film(job)
            if progress:
                progress(k + 1, len(jobs))
        return results
    with ProcessPoolExecutor(workers, initializer=_init_worker,
                             initargs=(dirs, profile)) as pool:
        for k, rows in enumerate(pool.map(_run_film, jobs, chunksize=4)):
            results += rows
            if progress:
                progress(k + 1, len(jobs))
    return results


# -- summary ----------------------------------------------------------------------------

def _ece_interval(y: np.ndarray, p: np.ndarray, n_bins: int, n_boot: int = 500,
                  seed: int = 0) -> tuple[float, float]:
    from pneumonia_core.metrics import expected_calibration_error

    rng = np.random.default_rng(seed)
    vals = [expected_calibration_error(y[idx], p[idx], n_bins)
            for idx in (rng.integers(0, len(y), len(y)) for _ in range(n_boot))]
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return float(lo), float(hi)


def summarise(results: Sequence[FilmResult], threshold: float,
              ece_bins: int = 10) -> dict[str, dict[str, Any]]:
    """Per family: guard refusals (count, fraction, 95 % interval, by check) and, guard
    bypassed, ROC AUC, sensitivity and specificity at ``threshold`` and ECE with intervals."""
    from pneumonia_core.metrics import classification_summary, clopper_pearson

    out: dict[str, dict[str, Any]] = {}
    for fam in dict.fromkeys(r.family for r in results):
        rows = [r for r in results if r.family == fam]
        refused = [r for r in rows if r.status == "out_of_scope"]
        scored = [r for r in rows if r.probability is not None]
        y = np.array([r.label for r in scored], np.float64)
        p = np.array([r.probability for r in scored], np.float64)
        s = classification_summary(y, p, threshold, ece_bins=(ece_bins,), n_boot=1000)
        lo, hi = clopper_pearson(len(refused), len(rows))
        out[fam] = {
            "films": len(rows), "refused": len(refused),
            "refused_fraction": len(refused) / max(len(rows), 1),
            "refused_ci": [lo, hi],
            "refused_by_check": dict(Counter(r.check for r in refused)),
            "errors": sum(r.status == "error" for r in rows),
            "roc_auc": s["roc_auc"], "sensitivity": s["sensitivity"],
            "specificity": s["specificity"],
            "ece": {"value": s[f"ece_{ece_bins}"],
                    "ci": list(_ece_interval(y, p, ece_bins))},
        }
    return out


def halves(films: Sequence[tuple[str, int]], seed: int = 0
           ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Two halves of ``films``, whole patients on one side, each class split evenly."""
    from training.data import patient_id

    rng = np.random.default_rng(seed)
    a: list[tuple[str, int]] = []
    b: list[tuple[str, int]] = []
    for label in (0, 1):
        groups: dict[str, list[tuple[str, int]]] = {}
        for f in films:
            if f[1] == label:
                groups.setdefault(patient_id(Path(f[0]).name), []).append(f)
        keys = sorted(groups)
        for k in rng.permutation(len(keys)):
            side = a if sum(x[1] == label for x in a) <= sum(x[1] == label for x in b) else b
            side.extend(groups[keys[k]])
    return sorted(a), sorted(b)


def write_shifted(films: Sequence[tuple[str, int]], family: str, out: Path, seed: int) -> None:
    """The films under ``family`` as files in ``out/{NORMAL,PNEUMONIA}`` (a site's folder)."""
    for path, label in films:
        data = shifted_bytes(load_working(Path(path)), family,
                             film_seed(seed + 1, Path(path).name, family))
        ext = ".dcm" if data[128:132] == b"DICM" else ".png"
        folder = out / LABELS[label]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / (Path(path).stem + ext)).write_bytes(data)


def calibrate_half(films: Sequence[tuple[str, int]], family: str, model_dir: str | None,
                   workdir: Path, seed: int = 0, workers: int = 2,
                   target_sensitivity: float | None = None, keep_rows: bool = False
                   ) -> dict[str, Any]:
    """A site's rescue (issue 21): ``calibrate`` on one half of the films under ``family``,
    then the other half read with the profile. Returns both halves' sizes, calibrate's exit
    status and output, and the other half's summary (guard refusals, sensitivity,
    specificity, ECE at the profile's threshold). ``target_sensitivity`` is passed to
    ``calibrate --target-sensitivity`` (default: the model's own target). ``keep_rows``: the
    other half's :class:`FilmResult` rows too (``"rows"``)."""
    from desktop import calibrate

    first, second = halves(films, seed)
    site = workdir / "site"
    write_shifted(first, family, site, seed)
    profile = workdir / "site_profile.json"
    out, err = io.StringIO(), io.StringIO()
    args = [str(site), "--out", str(profile), "--force"]
    if model_dir:
        args += ["--model-dir", str(model_dir)]
    if target_sensitivity is not None:
        args += ["--target-sensitivity", str(target_sensitivity)]
    code = calibrate.main(args, stdout=out, stderr=err)
    result: dict[str, Any] = {"family": family, "target_sensitivity": target_sensitivity,
                              "calibrated_on": len(first),
                              "measured_on": len(second), "calibrate_exit": code,
                              "calibrate_output": out.getvalue() + err.getvalue()}
    if code != 0:
        return result
    rows = run_suite(second, model_dir, [family], seed, workers, str(profile))
    threshold = json.loads(profile.read_text())["threshold"]["value"]
    result["summary"] = summarise(rows, threshold)[family]
    result["threshold"] = threshold
    if keep_rows:
        result["rows"] = rows
    return result


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.shift_suite", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", type=Path, required=True,
                    help="folder with NORMAL/ and PNEUMONIA/ (repeat for several)")
    ap.add_argument("--model", action="append", default=None,
                    help="model folder (default: the bundled one); repeat to compare several "
                         "on the same shifted files in one run")
    ap.add_argument("--profile", default=None, help="a site profile to apply (site_profile.json)")
    ap.add_argument("--families", default=",".join(SUITE),
                    help=f"comma-separated subset of {','.join(SUITE)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="every k-th film so at most this many")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--json", type=Path, default=None, help="write the summary and every film's result")
    ap.add_argument("--summary", type=Path, default=None,
                    help="write the per-family summaries only (no paths), the results file "
                         "the model card's section is made from (bench/shift_results.json; "
                         "python -m converter.shift_card)")
    ap.add_argument("--calibrate-half", metavar="FAMILY", default=None,
                    help="instead: calibrate on one half of the films under FAMILY (e.g. "
                    "combined), then measure the other half with that site profile")
    ap.add_argument("--target-sensitivity", type=float, default=None,
                    help="with --calibrate-half: the site's target sensitivity for calibrate "
                         "(default: the model's own)")
    return ap


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    films = every_kth(list_films(args.data), args.limit)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    t0 = time.perf_counter()
    models: list[str | None] = args.model or [None]
    if args.calibrate_half:
        import tempfile

        if len(models) > 1:
            raise SystemExit("--calibrate-half takes one --model")

        with tempfile.TemporaryDirectory(prefix="shift-site-") as tmp:
            res = calibrate_half(films, args.calibrate_half, models[0], Path(tmp), args.seed,
                                 args.workers, args.target_sensitivity)
        sys.stdout.write(res["calibrate_output"])
        if "summary" in res:
            sys.stdout.write(f"calibrated on {res['calibrated_on']} films under "
                             f"{args.calibrate_half}; the other {res['measured_on']} with the "
                             f"profile (threshold {res['threshold']:.3f}):\n"
                             + table({args.calibrate_half: res["summary"]}) + "\n")
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
        return 0 if res["calibrate_exit"] == 0 else 1

    def progress(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            log.info("shift suite: %d/%d films (%d families each), %.0f s", done, total,
                     len(families), time.perf_counter() - t0)

    from pneumonia_core.model import ModelBundle

    entries = []
    for model_dir in models:  # before the run: the folders the workers read
        bundle = ModelBundle.load(model_dir)
        point = (apply_profile_to_bundle(bundle, args.profile)[1] if args.profile
                 else bundle.operating_point)
        entries.append({"model": model_label(bundle), "sha256": bundle.metadata.sha256,
                        "threshold": point.threshold})
    results = run_suite(films, models, families, args.seed, args.workers, args.profile,
                        progress)
    for entry in entries:
        entry["summary"] = summarise([r for r in results if r.model == entry["model"]],
                                     entry["threshold"])
        sys.stdout.write(f"model {entry['model']}, threshold {entry['threshold']:.3f}, "
                         f"{len(films)} films, seed {args.seed}"
                         f"{', profile ' + args.profile if args.profile else ''}\n")
        sys.stdout.write(table(entry["summary"]) + "\n")
    head = {"suite": "bench/shift_suite.py", "data": [Path(d).name for d in args.data],
            "films_total": len(films), "limit": args.limit, "seed": args.seed,
            "families": families, "profile": bool(args.profile), "models": entries}
    if args.summary:
        args.summary.write_text(json.dumps(head, indent=1) + "\n")
    if args.json:
        args.json.write_text(json.dumps(head | {"films": [asdict(r) for r in results]}, indent=1))
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
