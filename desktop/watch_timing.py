"""The watch folder's timing (:mod:`desktop.watch`), in a module of its own that imports
nothing: ``classify``'s parser shows ``--settle``'s default without importing the watch code
(its SQLite state and types) on every run, the one-file ``classify`` included (issue 22)."""

from __future__ import annotations

#: A file is complete when its size and modification time stayed the same this long (s).
SETTLE_S = 2.0
#: Seconds between two scans of the folder.
POLL_S = 1.0
