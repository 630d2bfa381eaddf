"""Held-out validation of the guard's acquisition fit (issue 21).

The guard's image statistics and layout limits are fitted on training films and acquisition
variants of them (:mod:`pneumonia_core.scope_augment`). Does that generalise to a kind of
difference the fit never saw, as the maintainers' own held-back parameters will test? For each
step of the variants, fit the guard WITHOUT that step, and measure how many
real films under the shift suite's matching family (``bench/shift_suite.py``; test films
made to look as if acquired elsewhere, read through the app's decoder) the guard refuses, next
to the fit with every step; and how many non-chest inputs of the generated corpus it still
catches. The whole guard is fitted and applied as the converter does (pixel and layout checks,
the feature distance and the feature-pattern check on the model's features of the films and
of the variants without the step: :func:`pneumonia_core.scope.fit_scope_stats`).

    python -m bench.guard_holdout --train ../shared/data/chest_xray/train \\
        --test ../shared/data/chest_xray/test_public [--train-every 8] [--limit 80]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench import shift_suite as ss
from pneumonia_core import scope

log = logging.getLogger(__name__)

#: A step of the variants -> the suite families that measure it.
HOLDOUTS: dict[str, tuple[str, ...]] = {
    "rotation": ("rotation",),
    "collimation": ("collimation",),
    "noise": ("noise",),
    "resolution": ("resolution_bitdepth",),
    "sharpening": ("unsharp",),
    "display_curve": ("gamma_lut", "lifted_blacks"),
    "marks": ("text_markers",),
}


def shifted_inputs(films: Sequence[tuple[str, int]], families: Sequence[str],
                   size: int = 224, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Model inputs of every film under every family, through the app's decoder (the suite's
    draws: the same films and seed give the same shifted files)."""
    from pneumonia_core.imageio import decode_bytes, to_model_input

    out: dict[str, list[np.ndarray]] = {f: [] for f in families}
    for k, (path, _label) in enumerate(films):
        img = ss.load_working(Path(path))
        for fam in families:
            data = ss.shifted_bytes(img, fam, ss.film_seed(seed, Path(path).name, fam))
            out[fam].append(to_model_input(decode_bytes(data, draft_size=size).pixels, size))
        if (k + 1) % 20 == 0 or k + 1 == len(films):
            log.info("shifted films: %d/%d", k + 1, len(films))
    return out


def corpus_inputs(size: int = 224) -> list[np.ndarray | None]:
    """The generated non-chest corpus as model inputs; None for an item the decoded-file
    checks (DICOM tags, colour) or the decoder already refuse."""
    from converter.ood_corpus import build_corpus
    from pneumonia_core.imageio import decode_bytes, read_file_bytes, to_model_input

    items: list[np.ndarray | None] = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in build_corpus(tmp, seed=0):
            try:
                decoded = decode_bytes(read_file_bytes(item.path), draft_size=size)
            except Exception:  # noqa: BLE001 - an undecodable item is refused by the app
                items.append(None)
                continue
            items.append(None if not scope.check_decoded(decoded).in_scope
                         else to_model_input(decoded.pixels, size))
    return items


def is_refused(gray: np.ndarray, embedding: np.ndarray | None, stats: dict) -> bool:
    """The guard of ``scope`` stats refuses this model input (pixel, layout, features)."""
    verdict = scope.check_pixels(gray, stats)
    return not (verdict.in_scope and scope.check_embedding(embedding, stats).in_scope)


def refused(grays: Sequence[np.ndarray], embeddings: Sequence[np.ndarray], stats: dict) -> int:
    """How many of ``grays`` (with the model's features ``embeddings``) the guard refuses."""
    return sum(is_refused(g, e, stats) for g, e in zip(grays, embeddings, strict=True))


def fit(train: Sequence[np.ndarray], train_emb: np.ndarray, embed: Callable,
        without: Sequence[str] = (), per_film: int = 2, seed: int = 0) -> dict:
    """``scope`` stats fitted as the converter does, variants without the given steps."""
    return scope.fit_scope_stats(train_emb, images=train, variants=per_film, seed=seed,
                                 embed=embed, without=without)


def run(train: Sequence[np.ndarray], shifted: dict[str, list[np.ndarray]],
        corpus: Sequence[np.ndarray | None], embed: Callable) -> list[dict]:
    """One row per held-out step (and ``none``, the full fit): refusals per family and the
    corpus items caught (decoded-file checks included)."""
    rows = []
    train_emb = embed(list(train))
    shifted_emb = {fam: embed(g) for fam, g in shifted.items()}
    readable = [g for g in corpus if g is not None]
    corpus_emb = embed(readable) if readable else []
    for held in ("none", *HOLDOUTS):
        t0 = time.perf_counter()
        stats = fit(train, train_emb, embed, () if held == "none" else (held,))
        row = {"held_out": held, "films": len(next(iter(shifted.values()))),
               "refused": {fam: refused(g, shifted_emb[fam], stats)
                           for fam, g in shifted.items()},
               "corpus_total": len(corpus),
               "corpus_caught": len(corpus) - len(readable)
               + refused(readable, corpus_emb, stats)}
        rows.append(row)
        log.info("held out %s: %s, corpus %d/%d (%.0f s)", held, row["refused"],
                 row["corpus_caught"], len(corpus), time.perf_counter() - t0)
    return rows


def table(rows: list[dict]) -> str:
    """Held-out refusals next to the full fit's, per step."""
    full = rows[0]
    n = full["films"]
    lines = ["| held out of the fit | its suite families: refused without it | with it (full "
             "fit) | combined refused | non-chest caught (whole guard) |",
             "|---|---|---|---|---|"]
    for row in rows:
        fams = HOLDOUTS.get(row["held_out"], ())
        own = ", ".join(f"{f} {row['refused'][f]}/{n}" for f in fams if f in row["refused"])
        base = ", ".join(f"{f} {full['refused'][f]}/{n}" for f in fams if f in full["refused"])
        comb = row["refused"].get("combined")
        lines.append(f"| {row['held_out']} | {own or '-'} | {base or '-'} | "
                     f"{'-' if comb is None else f'{comb}/{n}'} | "
                     f"{row['corpus_caught']}/{row['corpus_total']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    ap = argparse.ArgumentParser(prog="python -m bench.guard_holdout",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, required=True, help="training films (NORMAL/, PNEUMONIA/)")
    ap.add_argument("--test", type=Path, required=True, help="test films to shift")
    ap.add_argument("--train-every", type=int, default=8, help="fit on every k-th training film")
    ap.add_argument("--limit", type=int, default=80, help="at most this many test films")
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    args = ap.parse_args(argv)
    from pneumonia_core.imageio import load_image

    train = [load_image(p, 224) for p, _ in ss.list_films([args.train])[::args.train_every]]
    films = ss.list_films([args.test])
    films = ss.every_kth(films, args.limit)
    families = sorted({f for fams in HOLDOUTS.values() for f in fams}) + ["combined"]
    shifted = shifted_inputs(films, families)
    from pneumonia_core.model import ModelBundle

    bundle = ModelBundle.load(args.model)

    def embed(grays: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([bundle.predict(g).embedding for g in grays])

    rows = run(train, shifted, corpus_inputs(), embed)
    sys.stdout.write(f"fitted on {len(train)} training films (+2 variants each); "
                     f"{len(films)} test films\n" + table(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
