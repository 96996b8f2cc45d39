"""plugins/action/caribix_services: what it makes of `systemctl show`, as it
comes through Docker or through SSH with a terminal (CRLF, colour codes).
The action itself runs against real systemd in every Molecule scenario."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("caribix_services_action", ROOT / "plugins" / "action" / "caribix_services.py")
action = importlib.util.module_from_spec(spec)
spec.loader.exec_module(action)

SHOW = (
    "Id=nftables.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n\n"
    "Id=caribix-lg-backend.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\nNeedDaemonReload=yes\n"
)


@pytest.mark.parametrize("text", [SHOW, SHOW.replace("\n", "\r\n"), SHOW.replace("=loaded", "=loaded\x1b[m")])
def test_systemctl_show_is_read_per_unit(text):
    states = action.parse_show(text, 2)
    assert [s["Id"] for s in states] == ["nftables.service", "caribix-lg-backend.service"]
    assert states[0]["LoadState"] == "loaded" and states[1]["NeedDaemonReload"] == "yes"
    assert action.needs(["nftables", "caribix-lg-backend"], states) == {
        "reload": True, "missing": [], "enable": ["caribix-lg-backend"], "failed": [], "start": ["caribix-lg-backend"],
    }


def test_a_unit_systemd_gave_up_on_is_reset_before_its_start():
    """Alertmanager crash-loops under the package's defaults until its flags
    are written; systemd stops trying (start limit). Its failure is reset,
    then it is started with the configuration in place."""
    states = action.parse_show(SHOW.replace("ActiveState=inactive", "ActiveState=failed"), 2)
    wanted = action.needs(["nftables", "caribix-lg-backend"], states)
    assert wanted["failed"] == ["caribix-lg-backend"] and wanted["start"] == ["caribix-lg-backend"]


def test_a_missing_unit_is_named():
    states = action.parse_show("Id=nope.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\nNeedDaemonReload=no\n", 1)
    assert action.needs(["nope"], states)["missing"] == ["nope"]
    with pytest.raises(Exception, match="answered 1 units for 2"):
        action.parse_show("Id=a.service\nLoadState=loaded\n", 2)
