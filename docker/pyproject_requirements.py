"""Print pinned requirements from pyproject.toml, one per line, for `pip install -r`.

Used by the Dockerfiles so that pyproject.toml stays the only place versions are written:

    python pyproject_requirements.py pyproject.toml --extra gpu          # everything + gpu
    python pyproject_requirements.py pyproject.toml --only streamlit numpy   # a subset
    python pyproject_requirements.py pyproject.toml --extra gpu --constraints  # for pip -c

`--constraints` drops the extras (`zenml[local]==0.98.0` -> `zenml==0.98.0`): pip refuses
extras in a constraints file.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib


def requirement_name(requirement: str) -> str:
    """`tensorflow[and-cuda]==2.21.0` -> `tensorflow` (lowercase, as pip compares)."""
    return re.split(r"[\[=<>!~;@ ]", requirement.strip(), maxsplit=1)[0].lower()


def without_extras(requirement: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", requirement, count=1)


def requirements(
    pyproject: str, extras: list[str], only: list[str], constraints: bool = False
) -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    pins = list(project["dependencies"])
    for extra in extras:
        try:
            pins += project["optional-dependencies"][extra]
        except KeyError:
            raise SystemExit(f"{pyproject}: no optional-dependencies extra {extra!r}") from None
    if constraints:
        pins = [without_extras(p) for p in pins]
    if not only:
        return pins
    by_name = {requirement_name(p): p for p in pins}
    missing = [n for n in only if n.lower() not in by_name]
    if missing:
        raise SystemExit(f"{pyproject}: project.dependencies pins none of {missing}")
    return [by_name[n.lower()] for n in only]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--extra", action="append", default=[], help="optional-dependencies")
    parser.add_argument("--only", nargs="+", default=[], help="just these package names")
    parser.add_argument("--constraints", action="store_true", help="drop extras (pip -c)")
    args = parser.parse_args(argv)
    lines = requirements(args.pyproject, args.extra, args.only, args.constraints)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
