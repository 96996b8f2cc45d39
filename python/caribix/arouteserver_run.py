"""arouteserver's command line, with two speed-ups that keep its output unchanged.

At 1,000 members arouteserver spends about half of its time in two
places (docs/route-servers.md, "Scale"):

* loading its YAML inputs with PyYAML's pure-Python loader: the same
  safe loader in libyaml's C implementation (when PyYAML has it) reads
  the same documents into the same data;
* its templates asking the IP version of the same prefixes again and
  again, each time parsing the prefix: the parse is remembered.

tests/unit/test_arouteserver_run.py builds the same config with
arouteserver's own command and with this one and compares them byte for
byte.

    python -m caribix.arouteserver_run bird --cfg ... (arouteserver's arguments)
"""

from __future__ import annotations

import functools
import sys

import yaml
from pierky.arouteserver import builder, cli
from pierky.arouteserver.ipaddresses import IPNetwork


def _safe_load_with_libyaml(stream):
    return yaml.load(stream, Loader=yaml.CSafeLoader)  # noqa: S506 - CSafeLoader is the safe loader


@functools.lru_cache(maxsize=None)
def _parsed_network(prefix: str) -> IPNetwork:
    return IPNetwork(prefix)


def main() -> int:
    if yaml.__with_libyaml__:
        yaml.safe_load = _safe_load_with_libyaml
    # The templates' helpers read only `.version` of the object.
    builder.IPNetwork = _parsed_network
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
