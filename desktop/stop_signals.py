"""SIGTERM and Ctrl-C handling shared by the headless runs (``classify`` between files,
``classify --watch`` between chunks): one rule for which signals a run takes over."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stop_signal_handlers(handler: Callable[[int, object], None]) -> Iterator[None]:
    """``handler`` for SIGTERM and Ctrl-C while inside (``classify`` and ``classify --watch``),
    the old handlers back on the way out; nothing off the main thread, where Python allows no
    handler. A signal the process was started ignoring (``nohup``, a script's background job)
    stays ignored, as Python's own Ctrl-C handling does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)
           if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
