"""Check that this environment holds exactly the versions pinned in a lock file (``make setup`` runs it).

    python tools/check_lock.py requirements.lock

Exit status 1, listing them, when a locked package is missing or at another version.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """{normalized name: version} of every ``name==version`` line of the lock."""
    out = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            out[normalize(match.group(1))] = match.group(2)
    return out


def installed() -> dict[str, str]:
    return {normalize(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def differences(locked: dict[str, str], present: dict[str, str]) -> list[str]:
    problems = []
    for name, version in sorted(locked.items()):
        if name not in present:
            problems.append(f"{name}=={version} is locked but not installed")
        elif present[name] != version:
            problems.append(f"{name} is {present[name]}, the lock says {version}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    lock = Path(argv[0])
    locked = pins(lock)
    problems = differences(locked, installed())
    if problems:
        print(f"this environment differs from {lock} ({len(problems)}):", *problems, sep="\n  ", file=sys.stderr)
        print("`make setup` installs the locked versions (delete .venv first to start clean)", file=sys.stderr)
        return 1
    print(f"all {len(locked)} packages of {lock} are installed at the locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
