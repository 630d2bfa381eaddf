"""The desktop window: every module that imports PySide6 lives here.

The modules in :mod:`desktop` itself (jobs, review store, audit trail, settings, paths, the
headless ``classify``/``verify`` commands, ...) never import PySide6 nor this package; an
import-linter contract in pyproject.toml keeps it so.
"""
