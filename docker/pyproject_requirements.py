"""Print pyproject.toml's requirements (ranges), one per line, for `pip install -r`.

Used by docker/train.Dockerfile to install the project's dependencies in a layer of their
own, before the source is copied; the exact versions come from constraints.txt:

    python pyproject_requirements.py pyproject.toml --extra gpu > requirements.txt
    pip install -r requirements.txt -c constraints.txt
"""

from __future__ import annotations

import argparse
import sys
import tomllib


def requirements(pyproject: str, extras: list[str]) -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        try:
            lines += project["optional-dependencies"][extra]
        except KeyError:
            raise SystemExit(f"{pyproject}: no optional-dependencies extra {extra!r}") from None
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--extra", action="append", default=[], help="optional-dependencies")
    args = parser.parse_args(argv)
    sys.stdout.write("\n".join(requirements(args.pyproject, args.extra)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
