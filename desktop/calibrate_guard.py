"""``calibrate``'s guard step (issue 21): measure the site's labelled films with the model's
out-of-scope guard, fit the site guard on them (:mod:`pneumonia_core.site_guard`), and say
how many films the model's guard refused and how many the site guard still refuses. Qt-free.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TextIO

log = logging.getLogger(__name__)


def fit_guard(paths: Sequence[str], bundle: Any, stderr: TextIO, prog: str
              ) -> tuple[dict[str, Any] | None, Any]:
    """(site guard or None, the operating point to classify the films with). The point is the
    model's own, carrying the site guard when one was fitted."""
    from pneumonia_core import site_guard

    films = site_guard.gather(paths, bundle)
    readable = [f for f in films if f.gray is not None]
    if not readable:
        return None, bundle.operating_point
    guard = site_guard.fit_site_guard(films, bundle.metadata.scope)
    point = site_guard.with_site_guard(bundle.operating_point, bundle.metadata.scope, guard)
    still = site_guard.refused_after(films, point.scope or {})
    guard["site_refused"] = still
    stderr.write(f"{prog}: the model's out-of-scope guard refused {guard['default_refused']} of "
                 f"{len(readable)} readable film(s) as not a chest X-ray; the site guard fitted "
                 f"on these films refuses {still} (bound into the profile)\n")
    return guard, point
