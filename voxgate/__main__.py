"""`python -m voxgate` and the `voxgate` command: the CLI, which needs the server extra."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from voxgate.cli import main as cli
    except ModuleNotFoundError as exc:  # `pip install voxgate` is the SDK alone (httpx)
        sys.stderr.write(f"voxgate: the server and its CLI need the server extra ({exc.name} is not installed): "
                         "pip install 'voxgate[server]'\n")
        raise SystemExit(1) from None
    cli()


if __name__ == "__main__":
    main()
