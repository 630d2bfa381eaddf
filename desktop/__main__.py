"""Entry point of ``pneumonia-xray``: the window by default, or a headless sub-command.

    pneumonia-xray [FILES_OR_FOLDERS...]          open the app (optionally with files)
    pneumonia-xray classify PATH... --csv OUT     headless batch classification
    pneumonia-xray --version | --self-test
"""

from __future__ import annotations

import sys

#: First arguments handled without Qt (fast start, no display needed).
_HEADLESS = ("--version", "-V", "--self-test", "-h", "--help")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and (args[0] == "classify" or args[0] in _HEADLESS):
        from desktop import batch

        return batch.main(args)
    from desktop import app

    return app.run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
