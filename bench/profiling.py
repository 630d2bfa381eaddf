"""Where the app pipeline's time goes: cProfile (CPU-time clock, so other processes' load
does not count) of :func:`pneumonia_core.pipeline.classify_file` over a folder, folded into
the core's own stages (cumulative time of each stage function), so the numbers point at the
line of ``pneumonia_core`` to change."""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path
from typing import Any

#: stage name -> (file name, function name) whose cumulative time is that stage.
STAGES = {
    "read file": ("imageio.py", "read_file_bytes"),
    "SHA-256 of file bytes": ("metadata.py", "sha256_bytes"),
    "decode (JPEG draft, grey, EXIF)": ("imageio.py", "decode_bytes"),
    "resize to model input": ("imageio.py", "to_model_input"),
    "scope: decoded checks": ("scope.py", "check_decoded"),
    "scope: pixel checks": ("scope.py", "check_pixels"),
    "inference (ModelBundle.predict)": ("model.py", "predict"),
    "scope: embedding distance": ("scope.py", "check_embedding"),
}
TOTAL = ("pipeline.py", "classify_file")


def profile_pipeline(paths: list[Path], model_dir: Path, top: int = 10) -> dict[str, Any]:
    """CPU milliseconds per image, by pipeline stage and by leaf function."""
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import classify_file

    bundle = ModelBundle.load(model_dir)
    for p in paths[:4]:
        classify_file(p, bundle)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    for p in paths:
        classify_file(p, bundle)
    prof.disable()
    raw = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    n = max(1, len(paths))

    def cum(target: tuple[str, str]) -> float:
        return sum(v[3] for (file, _line, func), v in raw.items()
                   if func == target[1] and Path(file).name == target[0])

    total = cum(TOTAL)
    stages = {name: cum(t) for name, t in STAGES.items()}
    stages["other (Result, glue)"] = max(0.0, total - sum(stages.values()))
    leaves = sorted(((v[2], f"{Path(file).name}:{func}" if file != "~" else func)
                     for (file, _line, func), v in raw.items()), reverse=True)[:top]
    return {
        "images": len(paths),
        "cpu_ms_per_image": round(1e3 * total / n, 3),
        "stages_ms_per_image": {k: round(1e3 * v / n, 3) for k, v in
                                sorted(stages.items(), key=lambda kv: -kv[1])},
        "top_leaf_functions_ms_per_image": {k: round(1e3 * t / n, 3) for t, k in leaves},
    }
