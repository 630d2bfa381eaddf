"""Every case of the bad/odd-input corpus: a correct decode or a clear per-file error, and a
whole batch over the corpus gives one row per case without an exception."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pneumonia_core.files import iter_image_files
from pneumonia_core.imageio import ImageLoadError, decode_bytes, load_image, read_file_bytes
from pneumonia_core.pipeline import STATUS_ERROR, STATUS_OK, STATUS_OUT_OF_SCOPE, classify_file
from tests.reliability.corpus import DEEP_TREE_LEVELS, ERROR, IMAGE, OUT_OF_SCOPE, Case

pytestmark = pytest.mark.timeout(120)


def with_recursion_limit(items: Iterator[str], headroom: int) -> Iterator[str]:
    """Advance ``items`` with only ``headroom`` stack frames to spare: a folder walk that
    recursed per level would raise RecursionError in the corpus's deep tree."""
    while True:
        depth = 0
        frame = sys._getframe()
        while frame is not None:
            depth += 1
            frame = frame.f_back
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(depth + headroom)
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            sys.setrecursionlimit(old)
        yield item


def case_path(root: Path, folder: Path, case: Case) -> str:
    return os.fspath((root if case.explicit else folder) / case.relpath)


def assert_clear_message(message: str) -> None:
    assert message.strip(), "empty error message"
    assert "Traceback" not in message and "\n" not in message, message
    assert len(message) <= 400, f"message too long for a table cell: {message[:80]}..."


def test_corpus_is_large_and_varied(corpus) -> None:
    _, _, cases = corpus
    assert len(cases) >= 30
    assert len({c.name for c in cases}) == len(cases)
    kinds = {c.expect for c in cases}
    assert kinds == {ERROR, IMAGE, OUT_OF_SCOPE}
    assert sum(c.expect == ERROR for c in cases) >= 20


def test_each_case_decodes_correctly_or_fails_clearly(corpus) -> None:
    root, folder, cases = corpus
    failures = []
    for case in cases:
        path = case_path(root, folder, case)
        if case.after_listing is not None:  # on a hidden copy: the batch test needs the original
            copy = Path(path).with_name("." + Path(path).name)
            shutil.copyfile(path, copy)
            case.after_listing(copy)
            path = os.fspath(copy)
        t0 = time.perf_counter()
        try:
            decoded = decode_bytes(read_file_bytes(path), draft_size=None)
            model_input = load_image(path, 224)
        except ImageLoadError as exc:
            outcome, message = ERROR, str(exc)
        except Exception as exc:  # the bug this test exists to catch
            failures.append(f"{case.name}: raised {type(exc).__name__}: {exc}")
            continue
        else:
            outcome, message = IMAGE, ""
        elapsed = time.perf_counter() - t0
        if elapsed > 10:
            failures.append(f"{case.name}: took {elapsed:.1f} s")
        if case.expect == ERROR:
            if outcome != ERROR:
                failures.append(f"{case.name}: decoded, expected an error /{case.pattern}/")
                continue
            assert_clear_message(message)
            if not case.matches(message):
                failures.append(f"{case.name}: message {message!r} does not match /{case.pattern}/")
            continue
        if outcome == ERROR:
            failures.append(f"{case.name}: expected a decode, got error {message!r}")
            continue
        assert decoded.pixels.dtype == np.uint8 and decoded.pixels.ndim == 2, case.name
        assert model_input.shape == (224, 224) and model_input.dtype == np.uint8, case.name
        if case.check is not None:
            try:
                case.check(decoded)
            except AssertionError as exc:
                failures.append(f"{case.name}: decoded wrongly: {exc}")
    assert not failures, "\n".join(failures)


def test_whole_corpus_as_one_batch_one_row_per_case(corpus, bundle) -> None:
    """Folder scan + classify_file over everything at once, as the batch command does."""
    root, folder, cases = corpus
    by_path = {case_path(root, folder, c): c for c in cases}
    explicit = [case_path(root, folder, c) for c in cases if c.explicit]

    def owner(row_path: str) -> Case:
        if row_path in by_path:
            return by_path[row_path]
        prefix = [c for p, c in by_path.items() if p.startswith(row_path + os.sep)]
        assert len(prefix) == 1, f"row {row_path[:120]} belongs to no single case"
        return prefix[0]

    rows = []
    t0 = time.perf_counter()
    walk = iter_image_files([folder, *explicit])
    for path in with_recursion_limit(walk, DEEP_TREE_LEVELS // 2):
        case = owner(path)
        if case.after_listing is not None:
            case.after_listing(Path(path))  # the file changes between listing and reading
        rows.append((case, classify_file(path, bundle)))  # must not raise
    elapsed = time.perf_counter() - t0

    counts: dict[str, int] = {}
    for case, _ in rows:
        counts[case.name] = counts.get(case.name, 0) + 1
    assert {c.name for c in cases} == set(counts), (
        f"cases without a row: {sorted({c.name for c in cases} - set(counts))}")
    assert all(n == 1 for n in counts.values()), {k: v for k, v in counts.items() if v != 1}

    failures = []
    for case, result in rows:
        assert result.cam is None  # nothing but numbers kept per row
        if case.expect == ERROR:
            if result.status != STATUS_ERROR or not case.matches(result.message):
                failures.append(f"{case.name}: {result.status} {result.message!r}, "
                                f"expected error /{case.pattern}/")
            assert_clear_message(result.message)
        elif case.expect == OUT_OF_SCOPE:
            if result.status != STATUS_OUT_OF_SCOPE or not case.matches(result.message):
                failures.append(f"{case.name}: {result.status} {result.message!r}, "
                                f"expected out_of_scope /{case.pattern}/")
        else:
            if result.status == STATUS_ERROR:
                failures.append(f"{case.name}: error {result.message!r}, expected a decode")
            if result.status == STATUS_OK:
                assert 0.0 <= result.probability <= 1.0
                assert result.prediction in bundle.metadata.labels
    assert not failures, "\n".join(failures)
    assert elapsed < 60, f"corpus batch took {elapsed:.1f} s"
