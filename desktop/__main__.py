"""Entry point of ``pneumonia-xray``: the window by default, or a headless sub-command.

    pneumonia-xray [FILES_OR_FOLDERS...]          open the app (optionally with files)
    pneumonia-xray classify PATH... --csv OUT     headless batch classification
    pneumonia-xray --version | --self-test
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and (args[0] == "classify" or args[0] in ("--version", "--self-test", "-V")):
        from desktop import batch

        return batch.main(args)
    from desktop import app

    return app.run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
