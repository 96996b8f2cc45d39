"""Fail when the installed collections do not satisfy requirements.yml.

Run at the end of the image build (execution-environment.yml): the
collections come from the pinned `ansible` bundle, not from Galaxy, so
this is where a bundle that no longer carries what requirements.yml asks
for is caught. Usage: check_collections.py REQUIREMENTS_YML
"""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version


def main(requirements: str) -> int:
    with open(requirements, encoding="utf-8") as handle:
        wanted = yaml.safe_load(handle)["collections"]
    listing = subprocess.run(
        ["ansible-galaxy", "collection", "list", "--format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout
    have: dict[str, str] = {}
    for collections in json.loads(listing).values():
        for name, meta in collections.items():
            have.setdefault(name, meta["version"])
    problems = []
    for collection in wanted:
        name, spec = collection["name"], SpecifierSet(collection.get("version", ">=0"))
        if name not in have:
            problems.append(f"{name}: not installed")
        elif Version(have[name]) not in spec:
            problems.append(f"{name}: {have[name]} does not satisfy {spec}")
        else:
            print(f"{name} {have[name]} satisfies {spec}")
    for problem in problems:
        print(f"ERROR {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
