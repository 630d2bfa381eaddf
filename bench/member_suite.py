"""Trained networks judged on the acquisition-shift suite before any conversion: which members
to ensemble (issue 21).

    python -m bench.member_suite --data ../shared/data/chest_xray/test_public \\
        --run A=../runs/r/member_a --run B=../runs/r/member_b [--draws 4] [--size 2] \\
        [--cache ../runs/member_inputs.npz] [--json FILE]

Every film is shifted exactly as :mod:`bench.shift_suite` shifts it (the same bytes for the same
film, family and seed), prepared by the app's own path (``decode_bytes`` with the draft
reduction, ``to_model_input``), and scored by each run's Keras model (``model.keras``, the
training code's ``predict_logits``); a candidate ensemble's logit is its members' mean, as
``pneumonia-train ensemble`` builds it. The guard is not applied (these are the model's
figures) and nothing is calibrated: ROC AUC per family and draw, and the plain films'
specificity at the threshold rule of :func:`pneumonia_core.calibration.choose_threshold` fitted
on those same plain films (in-sample, for comparing candidates only). The prepared inputs can be
cached (``--cache``, uint8) so further runs score new members in seconds.

This imports TensorFlow (through the training code); the app never does. Figures on
test_public select recipes there, so say so wherever they are reported. With ``--val`` the
films are instead the validation split the runs share (train/ films that none of them was
trained on, read from their ``split.json``): a choice made there is out-of-sample for
test_public.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import shift_suite

log = logging.getLogger("bench.member_suite")

#: Families scored by default: the plain films, the combined shift and the two border ones.
DEFAULT_FAMILIES = ("plain", "combined", "collimation", "unsharp_noise_collimation")
#: The family whose per-draw ROC AUC ranks candidates (the issue's hardest goal).
RANK_FAMILY = "combined"


def _prepare_film(job: tuple[str, int, tuple[str, ...], tuple[int, ...], int]
                  ) -> list[tuple[str, int, str, int, np.ndarray]]:
    from pneumonia_core.imageio import decode_bytes, to_model_input

    path, label, families, seeds, size = job
    img = shift_suite.load_working(Path(path))
    name = Path(path).name
    out = []
    for seed in seeds:
        for fam in families:
            if fam == "plain" and seed != seeds[0]:
                continue  # the plain film is the same under every seed
            data = shift_suite.shifted_bytes(img, fam, shift_suite.film_seed(seed, name, fam))
            x = to_model_input(decode_bytes(data, draft_size=size).pixels, size)
            out.append((fam, seed, name, label, x))
    return out


def prepare(films: Sequence[tuple[str, int]], families: Sequence[str], seeds: Sequence[int],
            size: int = 224, workers: int = 2,
            progress: Callable[[int, int], None] | None = None
            ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The model inputs (N, size, size) uint8 of every film under every family and seed (the
    plain film once), and one row of ``family, seed, file, label`` for each."""
    unknown = set(families) - set(shift_suite.SUITE)
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; choose from {shift_suite.SUITE}")
    jobs = [(p, y, tuple(families), tuple(seeds), size) for p, y in films]
    rows: list[tuple[str, int, str, int, np.ndarray]] = []

    def collect(k: int, part: list) -> None:
        rows.extend(part)
        if progress:
            progress(k + 1, len(jobs))

    if workers <= 1:
        for k, job in enumerate(jobs):
            collect(k, _prepare_film(job))
    else:
        with ProcessPoolExecutor(workers) as pool:
            for k, part in enumerate(pool.map(_prepare_film, jobs, chunksize=4)):
                collect(k, part)
    x = np.stack([r[4] for r in rows]).astype(np.uint8)
    meta = [{"family": r[0], "seed": r[1], "file": r[2], "label": r[3]} for r in rows]
    return x, meta


def keras_logits(run_dir: str | Path, x: np.ndarray) -> np.ndarray:
    """The logits of a training run's best checkpoint for model inputs ``x`` (N, S, S)."""
    from training.run import load_run
    from training.train import predict_logits

    run = load_run(run_dir)
    return predict_logits(run.model, x.astype(np.float32)[..., None])


def candidates(names: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """Every member alone and every ensemble of 2..``size`` of them."""
    out: list[tuple[str, ...]] = [(n,) for n in names]
    for k in range(2, min(size, len(names)) + 1):
        out += list(itertools.combinations(names, k))
    return out


def judge(logits: Mapping[str, np.ndarray], meta: Sequence[Mapping[str, Any]],
          members: Sequence[str], target_sensitivity: float | None = None) -> dict[str, Any]:
    """One candidate (the mean logit of ``members``): per family the ROC AUC of each draw (and
    their mean), and the plain films' sensitivity and specificity at the threshold rule fitted
    on them (by default with the release's target, the converter's external one)."""
    from converter.external import EXTERNAL_TARGET_SENSITIVITY
    from pneumonia_core.calibration import choose_threshold
    from pneumonia_core.metrics import roc_auc

    z = np.mean([np.asarray(logits[m], np.float64) for m in members], axis=0)
    fam = np.array([r["family"] for r in meta])
    seed = np.array([r["seed"] for r in meta])
    y = np.array([r["label"] for r in meta], int)
    res: dict[str, Any] = {"members": list(members), "families": {}}
    for f in dict.fromkeys(fam.tolist()):
        draws = [roc_auc(y[(fam == f) & (seed == s)], z[(fam == f) & (seed == s)])
                 for s in sorted(set(seed[fam == f].tolist()))]
        res["families"][f] = {"roc_auc": draws, "mean": float(np.mean(draws))}
    plain = fam == "plain"
    if plain.any():
        thr = choose_threshold(y[plain], z[plain],
                               target_sensitivity or EXTERNAL_TARGET_SENSITIVITY)
        res["plain_at_rule"] = {"sensitivity": thr["sensitivity"],
                                "specificity": thr["specificity"],
                                "target_sensitivity": thr["target_sensitivity"]}
    return res


def table(results: Sequence[Mapping[str, Any]]) -> str:
    """Candidates best first by the mean ROC AUC of :data:`RANK_FAMILY` over its draws."""
    fams = list(results[0]["families"]) if results else []
    head = ["candidate", *[f"{f} (per draw; mean)" for f in fams], "plain sens / spec"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def key(r: Mapping[str, Any]) -> float:
        return -r["families"].get(RANK_FAMILY, {"mean": 0.0})["mean"]

    for r in sorted(results, key=key):
        cells = ["+".join(r["members"])]
        for f in fams:
            d = r["families"][f]
            per = " ".join(f"{v:.3f}" for v in d["roc_auc"])
            cells.append(per if len(d["roc_auc"]) == 1 else f"{per}; {d['mean']:.3f}")
        p = r.get("plain_at_rule")
        cells.append(f"{p['sensitivity']:.3f} / {p['specificity']:.3f}" if p else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def logits_key(run_dir: str | Path, x: np.ndarray) -> str:
    """What a run's cached logits depend on: its checkpoint (path, size, modification time)
    and the exact inputs."""
    import hashlib

    from training.run import MODEL_FILE

    model = (Path(run_dir) / MODEL_FILE).resolve()
    st = model.stat()
    h = hashlib.sha256(f"{model}|{st.st_size}|{st.st_mtime_ns}|{x.shape}".encode())
    h.update(np.ascontiguousarray(x).data)
    return h.hexdigest()[:32]


def scored_logits(runs: Mapping[str, str | Path], x: np.ndarray, cache: Path | None = None,
                  progress: Callable[[str, int, int], None] | None = None
                  ) -> dict[str, np.ndarray]:
    """Each run's logits for ``x``; with ``cache`` (an .npz), logits of a checkpoint already
    scored on these very inputs are read back instead of computed again."""
    stored: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            stored = {k: z[k] for k in z.files}
    out, added = {}, False
    for k, (name, path) in enumerate(runs.items(), 1):
        key = logits_key(path, x) if cache is not None else ""
        if key in stored:
            out[name] = stored[key]
        else:
            out[name] = np.asarray(keras_logits(path, x), np.float64)
            stored[key], added = out[name], True
        if progress:
            progress(name, k, len(runs))
    if cache is not None and added:
        np.savez(cache, **stored)
    return out


def _load_cache(path: Path, films: Sequence[tuple[str, int]], families: Sequence[str],
                seeds: Sequence[int]) -> tuple[np.ndarray, list[dict[str, Any]]] | None:
    if not path.is_file():
        return None
    z = np.load(path, allow_pickle=False)
    info = json.loads(str(z["info"]))
    want = {"films": [Path(p).name for p, _ in films], "families": list(families),
            "seeds": list(seeds)}
    if {k: info.get(k) for k in want} != want:
        log.info("member suite: %s holds other films, families or seeds; preparing again", path)
        return None
    return z["x"], info["meta"]


def validation_films(run_dirs: Sequence[str | Path], data_root: Path | None = None
                     ) -> list[tuple[str, int]]:
    """(path, label) of the validation films every run in ``run_dirs`` held out, sorted as
    :func:`bench.shift_suite.list_films` sorts. Paths are under ``data_root`` or the root each
    split recorded. Runs whose validation splits differ are refused: a member judged on films
    it was trained on would look better than it is."""
    from training.run import SPLIT_FILE

    if not run_dirs:
        raise ValueError("no runs given")
    first: dict[str, int] | None = None
    root: Path | None = data_root
    for run_dir in run_dirs:
        payload = json.loads((Path(run_dir) / SPLIT_FILE).read_text())
        val = {e["path"]: int(e["label"]) for e in payload.get("val", [])}
        trained = {e["path"] for e in payload.get("train", [])}
        if not val or val.keys() & trained:
            raise ValueError(f"{run_dir}: its split has no validation films apart from training")
        if first is None:
            first = val
            root = root if root is not None else Path(payload["data_root"])
        elif val != first:
            raise ValueError(f"{run_dir}: its validation split differs from {run_dirs[0]}'s; "
                             "members must share one split to be judged on it")
    assert first is not None and root is not None
    return [(str(root / rel), label)
            for rel, label in sorted(first.items(), key=lambda kv: (kv[1], Path(kv[0]).name))]


def named_runs(parser: argparse.ArgumentParser, items: Sequence[str]) -> dict[str, str]:
    """``--run NAME=RUN_DIR`` options as {name: run folder}, in order; a malformed one is the
    parser's error (it exits with the message)."""
    runs: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--run takes NAME=RUN_DIR, received {item!r}")
        runs[name] = path
    return runs


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+",
                   help="folders with NORMAL/ and PNEUMONIA/ (test_public); with --val, the "
                        "dataset root when it moved since training")
    p.add_argument("--val", action="store_true",
                   help="score the validation films the runs share (their split.json) instead")
    p.add_argument("--run", action="append", required=True, metavar="NAME=RUN_DIR",
                   help="a training run folder (model.keras) under a short name; repeat")
    p.add_argument("--families", default=",".join(DEFAULT_FAMILIES))
    p.add_argument("--draws", type=int, default=4, help="seeds 0..N-1 (as bench.shift_draws)")
    p.add_argument("--limit", type=int, default=0, help="every k-th film, as shift_suite")
    p.add_argument("--half", choices=("all", "held-out", "design"), default="all",
                   help="judge on every second film (held-out, as --limit of half the films "
                        "keeps) or the others (design); inputs and cache cover all films")
    p.add_argument("--size", type=int, default=2, help="largest ensemble tried")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache", type=Path,
                   help="the prepared inputs (.npz), reused when they match; each run's logits "
                        "are kept beside it (CACHE.logits.npz) for the same checkpoint and inputs")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    runs = named_runs(p, args.run)
    if args.val:
        if args.data and len(args.data) > 1:
            p.error("with --val, --data takes one dataset root")
        try:
            films = validation_films(list(runs.values()), args.data[0] if args.data else None)
        except (OSError, ValueError, KeyError) as exc:
            p.error(str(exc))
        source = ["validation split of the runs (train/)"]
    elif args.data:
        films = shift_suite.list_films(args.data)
        source = [d.name for d in args.data]
    else:
        p.error("give --data FOLDER... or --val")
    films = shift_suite.every_kth(films, args.limit)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    seeds = list(range(args.draws))
    t0 = time.perf_counter()
    cached = _load_cache(args.cache, films, families, seeds) if args.cache else None
    if cached is None:
        def progress(done: int, total: int) -> None:
            if done == total or done % 25 == 0:
                log.info("member suite: prepared %d/%d films, %.0f s", done, total,
                         time.perf_counter() - t0)

        x, meta = prepare(films, families, seeds, workers=args.workers, progress=progress)
        if args.cache:
            info = {"films": [Path(f).name for f, _ in films], "families": families,
                    "seeds": seeds, "meta": meta}
            np.savez(args.cache, x=x, info=json.dumps(info))
    else:
        x, meta = cached
    def scored(name: str, k: int, n: int) -> None:
        log.info("member suite: scored %s (%d of %d), %.0f s", name, k, n,
                 time.perf_counter() - t0)

    logits = scored_logits(runs, x, args.cache.with_suffix(".logits.npz") if args.cache else None,
                           scored)
    if args.half != "all":
        held, design = shift_suite.held_out_and_design(films)
        names = {Path(f).name for f, _ in (held if args.half == "held-out" else design)}
        rows = np.array([m["file"] in names for m in meta])
        logits = {k: v[rows] for k, v in logits.items()}
        meta = [m for m, keep in zip(meta, rows, strict=True) if keep]
        films = [f for f in films if Path(f[0]).name in names]
    results = [judge(logits, meta, c) for c in candidates(list(runs), args.size)]
    sys.stdout.write(f"{len(films)} films ({args.half}), draws {seeds}, guard bypassed, "
                     "uncalibrated logits; "
                     f"ranked by {RANK_FAMILY}\n" + table(results) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"data": source, "half": args.half,
                                         "films": len(films), "seeds": seeds,
                                         "runs": {n: Path(r).name for n, r in runs.items()},
                                         "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
