"""The `comptoir` command's entry point: offline licence verification starts small.

`comptoir licence verify TOKEN --keys FILE` checks a licence against saved public keys, as a
partner or a buyer does with no shop at hand: it runs `licensing.verify` (the standard library and
`cryptography`) without building the app. Every other command is the app's Flask CLI.
"""

from __future__ import annotations

import sys


def _offline_verify(args: list[str]) -> bool:
    return args[:2] == ["licence", "verify"] and any(
        a == "--keys" or a.startswith("--keys=") for a in args[2:])


def main() -> None:
    args = sys.argv[1:]
    if _offline_verify(args):
        from licensing.verify import main as verify

        raise SystemExit(verify(args[2:], prog="comptoir licence verify"))
    from app import cli

    cli()
