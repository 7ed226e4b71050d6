"""The `islr` command line: one sub-command per task, each defined next to its code.

A command module exposes `register(subparsers)`, which adds its parser and sets
`func` to a callable taking the parsed arguments and returning an exit code.
Modules are listed here so `islr --help` shows every command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from islr.errors import ConfigError, IslrError

COMMAND_MODULES: tuple[str, ...] = (
    "islr.data.synth",
    "islr.data.commands",
    "islr.text.commands",
    "islr.training.commands",
    "islr.cluster.commands",
    "islr.export.commands",
    "islr.landmarks.commands",
)


def config_from_flags(cls, flags: dict[str, str] | None = None, **values):
    """Build a pydantic config from command-line values; a bad value is a ConfigError
    naming the flag and the value, raised before any data is read. `flags` maps a field
    to its flag where the flag is not `--field-name`."""
    from pydantic import ValidationError

    try:
        return cls(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:  # a rule across options, e.g. eval_fold < n_folds
                problems.append(message)
                continue
            field = str(err["loc"][0])
            flag = (flags or {}).get(field, "--" + field.replace("_", "-"))
            problems.append(f"{flag} {values.get(field, err.get('input'))}: {message}")
        raise ConfigError("; ".join(problems)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="islr", description="Isolated sign language recognition: data, training, serving."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except IslrError as exc:
        # Bad input, not a bug: one line naming the file and the problem; the traceback
        # only with -v.
        if args.verbose:
            traceback.print_exc()
        print(f"islr {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
