"""plugins/modules/caribix_file_states and the caribix_files_in_place filter: what one
read of a host's files lets the controller skip. The filter must say "in place" only when a
caribix_files run would change nothing: content, owner, group, mode, directories."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
spec = importlib.util.spec_from_file_location("caribix_files_filter", ROOT / "plugins" / "filter" / "caribix_files.py")
caribix_files_filter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(caribix_files_filter)
caribix_files_in_place = caribix_files_filter.caribix_files_in_place


def read_states(tmp_path: Path, patterns: list[str]) -> dict:
    playbook = tmp_path / "play.yml"
    result = tmp_path / "result.json"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [{"caribix_file_states": {"patterns": patterns}, "register": "states"},
                  {"ansible.builtin.copy": {"content": "{{ states | to_json }}", "dest": str(result)},
                   "check_mode": False}],
    }]))
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         str(playbook), "--check"],
        cwd=ROOT, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(result.read_text())


def test_the_states_read_tell_what_caribix_files_would_change(tmp_path):
    rules = tmp_path / "rules.d"
    rules.mkdir(mode=0o755)
    rules.chmod(0o755)
    (rules / "a.nft").write_text("accept\n")
    (rules / "a.nft").chmod(0o644)
    (rules / "b.bin").write_bytes(b"\xff\xfe")
    states = read_states(tmp_path, [str(rules), str(rules / "*")])
    assert states["changed"] is False
    files = states["files"]
    assert files[str(rules)]["type"] == "directory"
    assert files[str(rules / "a.nft")]["content"] == "accept\n"
    assert files[str(rules / "a.nft")]["mode"] == "0644"
    assert files[str(rules / "b.bin")]["content"] is None  # not text: never "in place"
    me = files[str(rules / "a.nft")]["owner"]
    wanted = [{"path": str(rules / "a.nft"), "content": "accept\n"}]
    directories = [{"path": str(rules)}]
    assert caribix_files_in_place(files, wanted, directories, owner=me, mode="0644")
    # Each difference a caribix_files run would repair makes the files "not in place".
    assert not caribix_files_in_place(files, [{**wanted[0], "content": "drop\n"}], directories, mode="0644")
    assert not caribix_files_in_place(files, wanted, directories, mode="0640")
    assert not caribix_files_in_place(files, [{**wanted[0], "mode": "0600"}], directories, mode="0644")
    assert not caribix_files_in_place(files, wanted, directories, owner=me + "-other", mode="0644")
    assert not caribix_files_in_place(files, wanted, [{"path": str(rules), "mode": "0700"}], mode="0644")
    assert not caribix_files_in_place(files, [{"path": str(rules / "c.nft"), "content": ""}], mode="0644")
    assert not caribix_files_in_place(files, [{"path": str(rules / "b.bin"), "content": ""}], mode="0644")
    assert not caribix_files_in_place(files, directories=[{"path": str(rules / "a.nft")}])


def test_a_relative_pattern_is_refused(tmp_path):
    with pytest.raises(AssertionError, match="patterns must be absolute"):
        read_states(tmp_path, ["rules.d/*"])
