"""route-server-apply (roles/route_server/files/route_server_apply.py): the
route server's switch to a new configuration, against a fake birdc that
answers as BIRD 2 does. The real BIRD runs it in molecule/route_server
(a member change, and a candidate BIRD refuses)."""
from __future__ import annotations

import subprocess

import pytest

from conftest import host_agent

agent = host_agent("route_server", "route_server_apply")

PROTOCOLS = """BIRD 2.17.6 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     10:00:00.000
AS64500_1  BGP        ---        up     10:00:01.000  Established
AS64500_2  BGP        ---        up     10:00:01.000  Established
RPKI1      RPKI       ---        up     10:00:00.000  Established
"""


class FakeBird:
    """birdc and systemctl as the agent calls them; records the calls."""

    def __init__(self, refuse=False, die=False, sessions=PROTOCOLS):
        self.refuse, self.die, self.sessions = refuse, die, sessions
        self.alive = True
        self.calls: list[list[str]] = []

    def __call__(self, argv):
        self.calls.append(argv)
        out, code = "", 0
        if argv[:2] == ["birdc", "configure"]:
            if self.die and argv[2].endswith(".candidate\""):
                self.alive = False
            if not self.alive:
                out, code = "Unable to connect to server control socket", 1
            elif self.refuse and argv[2].endswith(".candidate\""):
                out = f"BIRD 2.17.6 ready.\nReading configuration from {argv[2]}\n{argv[2]}:3:1 syntax error"
            else:
                out = f"BIRD 2.17.6 ready.\nReading configuration from {argv[2]}\nReconfigured"
        elif argv[:3] == ["birdc", "-r", "show"]:
            out, code = (self.sessions, 0) if self.alive else ("Unable to connect", 1)
        elif argv[:3] == ["systemctl", "is-active", "--quiet"]:
            code = 0 if self.alive else 3
        elif argv[:2] == ["systemctl", "restart"]:
            self.alive = True
        return subprocess.CompletedProcess(argv, code, out, "")


@pytest.fixture
def files(tmp_path):
    live = tmp_path / "bird.conf"
    live.write_text("old\n")
    candidate = tmp_path / "bird.conf.candidate"
    candidate.write_text("new\n")
    return candidate, live, tmp_path / "bird.conf.previous"


def copy(source, destination):
    with open(source) as src, open(destination, "w") as dst:
        dst.write(src.read())


def test_a_candidate_equal_to_the_live_file_changes_nothing(files):
    candidate, live, previous = files
    candidate.write_text("old\n")
    bird = FakeBird()
    code, report = agent.apply(str(candidate), str(live), str(previous), 2, bird, copy)
    assert code == 0 and report["changed"] is False and bird.calls == []
    assert not previous.exists()


def test_a_new_candidate_runs_and_becomes_the_live_file(files):
    candidate, live, previous = files
    bird = FakeBird()
    code, report = agent.apply(str(candidate), str(live), str(previous), 2, bird, copy)
    assert code == 0 and report == {"changed": True, "applied": True, "sessions": 2,
                                    "message": report["message"]}
    assert live.read_text() == "new\n" and previous.read_text() == "old\n"
    assert bird.calls[0] == ["birdc", "configure", f'"{candidate}"']


def test_a_refused_candidate_leaves_bird_and_the_files_as_they_were(files):
    candidate, live, previous = files
    bird = FakeBird(refuse=True)
    code, report = agent.apply(str(candidate), str(live), str(previous), 2, bird, copy)
    assert code == 1 and report["applied"] is False
    assert "syntax error" in report["message"] and f"BIRD runs {live} again" in report["message"]
    assert live.read_text() == "old\n" and not previous.exists() and candidate.exists()
    assert bird.calls[-1] == ["birdc", "configure", f'"{live}"']


def test_a_wrong_session_count_switches_back(files):
    candidate, live, previous = files
    bird = FakeBird(sessions=PROTOCOLS.replace("AS64500_2  BGP", "AS64500_2  XXX"))
    code, report = agent.apply(str(candidate), str(live), str(previous), 2, bird, copy)
    assert code == 1 and report["sessions"] == 1 and "2 expected" in report["message"]
    assert live.read_text() == "old\n"
    assert bird.calls[-1] == ["birdc", "configure", f'"{live}"']


def test_bird_dying_on_the_candidate_is_restarted_on_the_live_file(files):
    candidate, live, previous = files
    bird = FakeBird(die=True)
    code, report = agent.apply(str(candidate), str(live), str(previous), 2, bird, copy)
    assert code == 1 and "restarted" in report["message"]
    assert ["systemctl", "restart", "bird"] in bird.calls and bird.alive
    assert live.read_text() == "old\n"


def test_install_replaces_the_file_whole(files, tmp_path):
    candidate, live, _ = files
    agent.install(str(candidate), str(live))
    assert live.read_text() == "new\n" and oct(live.stat().st_mode & 0o777) == "0o640"
    assert not (tmp_path / "bird.conf.new").exists()


def test_a_missing_candidate_is_an_error_that_touches_nothing(files):
    candidate, live, previous = files
    candidate.unlink()
    bird = FakeBird()
    code, report = agent.apply(str(candidate), str(live), str(previous), 2, bird, copy)
    assert code == 1 and "nothing was staged" in report["message"] and bird.calls == []
