"""Render vendor switch configurations (Arista EOS, Juniper Junos) from the fabric model.

The same model drives the Linux whitebox backend; here it becomes the
configuration a hardware switch would need for the same policy. No such
device exists in the lab, so these configs are rendered offline and
committed as golden files (``golden/<island>/<switch>.<platform>.cfg``) for
every island, whatever platform the lab runs: a template or data change
shows up as a reviewable diff, and ``tests/unit/test_fabric_golden.py``
fails on any difference that was not regenerated on purpose.

Regenerate after a reviewed change::

    python -m caribix.fabric_render --write

Check (what CI does through pytest)::

    python -m caribix.fabric_render --check
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import jinja2

from caribix.fabric import FabricError, foreign_exchange_addresses, island_fabric, islands, switch_model
from caribix.textrender import text_environment

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "roles" / "fabric_vendor" / "templates"
GOLDEN_DIR = REPO / "golden"
INVENTORIES_DIR = REPO / "inventories"
VENDOR_PLATFORMS = ("eos", "junos")

def eos_interface(port: dict[str, Any]) -> str:
    return f"Ethernet{port['index']}"


def junos_interface(port: dict[str, Any]) -> str:
    # The port's hardware speed picks the Junos media prefix.
    speed = int(port["max_speed"])
    prefix = "et" if speed >= 40000 else "xe" if speed >= 10000 else "ge"
    return f"{prefix}-0/0/{port['index'] - 1}"


def eos_mac(mac: str) -> str:
    digits = mac.replace(":", "")
    return ".".join(digits[i : i + 4] for i in range(0, 12, 4))


def _speed_keyword(platform: str, speed: int) -> str:
    gbit = speed // 1000
    if platform == "eos":
        return f"{gbit}g" if speed >= 1000 else f"{speed}"
    return f"{gbit}g" if speed >= 1000 else f"{speed}m"


def _environment() -> jinja2.Environment:
    env = text_environment(TEMPLATE_DIR)
    env.filters["eos_mac"] = eos_mac
    return env


def render_switch(model: dict[str, Any], platform: str) -> str:
    """One switch's configuration for ``platform`` from its switch model."""
    if platform not in VENDOR_PLATFORMS:
        raise FabricError(f"platform {platform!r} has no vendor renderer ({', '.join(VENDOR_PLATFORMS)})")
    naming = eos_interface if platform == "eos" else junos_interface
    ports = []
    for port in model["switch"]["ports"]:
        vendor = dict(port)
        vendor["ifname"] = naming(port)
        vendor["filter_name"] = "CARIBIX-" + vendor["ifname"].upper().replace("/", "-")
        vendor["exchange_addresses"] = foreign_exchange_addresses(model, port)
        if "speed" in port:
            vendor["speed_keyword"] = _speed_keyword(platform, int(port["speed"]))
            vendor["speed_below_max"] = int(port["speed"]) < int(port["max_speed"])
        ports.append(vendor)
    context = {
        "island": model["island"],
        "exchange": model["exchange"],
        "lan": model["peering_lan"],
        "switch": model["switch"],
        "ports": ports,
        "links": {link["local_port"]: link for link in model["inter_island_links"]},
        # Storm control: the peering LAN's, the whitebox's too (caribix.fabric.BUM_RATE_PPS).
        "policy": {"bum_rate_pps": model["peering_lan"]["bum_rate_pps"], "bum_burst": model["peering_lan"]["bum_burst"]},
        "sflow": model.get("sflow"),
    }
    return _environment().get_template(f"{platform}.cfg.j2").render(**context)


# Lines of an EOS running config bound to the peering VLAN outside any
# interface block: "default interface" does not remove them.
EOS_VLAN_LINES = ("mac address-table static ", "ip source binding ")


def eos_stale_lines(running: str, intended: str, vlan_id: int) -> list[str]:
    """The ``no ...`` lines that remove the peering VLAN's static MACs and
    IP source bindings the running config has and the intended one does
    not (a member that left): the part of the replace that the session
    cannot express without knowing what is on the switch."""
    wanted = {line.strip() for line in intended.splitlines()}
    stale = []
    for line in running.splitlines():
        line = line.strip()
        if line.startswith(EOS_VLAN_LINES) and f" vlan {vlan_id} " in f"{line} " and line not in wanted:
            stale.append(f"no {line}")
    return stale


def render_island(inventories_dir: Path, island: str) -> dict[str, str]:
    """Every switch of an island in every vendor platform: {relative path: text}."""
    fabric = island_fabric(inventories_dir, island)
    rendered = {}
    for switch in sorted(fabric["switches"]):
        model = switch_model(fabric, switch)
        for platform in VENDOR_PLATFORMS:
            rendered[f"{island}/{switch}.{platform}.cfg"] = render_switch(model, platform)
    return rendered


# golden/removal/: a switch after one member left, so the replace
# semantics (the port reset and disabled, its filter and bindings gone)
# are reviewed like the rest: compare with golden/<island>/.
REMOVAL = {"island": "guadeloupe", "switch": "gp-sw1", "asn": 64503}


def render_removal(inventories_dir: Path = INVENTORIES_DIR) -> dict[str, str]:
    island, switch, asn = REMOVAL["island"], REMOVAL["switch"], REMOVAL["asn"]
    if not (inventories_dir / island).is_dir():
        return {}
    model = switch_model(island_fabric(inventories_dir, island, without_asns=frozenset({asn})), switch)
    return {f"removal/{switch}-without-AS{asn}.{platform}.cfg": render_switch(model, platform) for platform in VENDOR_PLATFORMS}


def render_all(inventories_dir: Path = INVENTORIES_DIR) -> dict[str, str]:
    rendered: dict[str, str] = {}
    for island in islands(inventories_dir):
        rendered.update(render_island(inventories_dir, island))
    rendered.update(render_removal(inventories_dir))
    return rendered


def golden_diff(golden_dir: Path = GOLDEN_DIR, inventories_dir: Path = INVENTORIES_DIR) -> list[str]:
    """Unified diffs between the committed golden files and a fresh rendering."""
    rendered = render_all(inventories_dir)
    diffs = []
    committed = {str(p.relative_to(golden_dir)) for p in golden_dir.glob("*/*.cfg")} if golden_dir.is_dir() else set()
    for name in sorted(set(rendered) | committed):
        path = golden_dir / name
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        new = rendered.get(name, "")
        if old != new:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        old.splitlines(keepends=True),
                        new.splitlines(keepends=True),
                        fromfile=f"golden/{name} (committed)",
                        tofile=f"golden/{name} (rendered)",
                    )
                )
                or f"golden/{name}: differs\n"
            )
    return diffs


def write_golden(golden_dir: Path = GOLDEN_DIR, inventories_dir: Path = INVENTORIES_DIR) -> list[str]:
    rendered = render_all(inventories_dir)
    written = []
    for name, text in sorted(rendered.items()):
        path = golden_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(name)
    for path in sorted(golden_dir.glob("*/*.cfg")):
        if str(path.relative_to(golden_dir)) not in rendered:
            path.unlink()
            written.append(f"{path.relative_to(golden_dir)} (removed)")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the vendor golden configs of every island.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 and print the diff if golden/ is stale")
    mode.add_argument("--write", action="store_true", help="(re)write golden/ after a reviewed change")
    args = parser.parse_args(argv)
    if args.write:
        for name in write_golden():
            print(f"wrote golden/{name}")
        return 0
    diffs = golden_diff()
    sys.stdout.write("".join(diffs))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
