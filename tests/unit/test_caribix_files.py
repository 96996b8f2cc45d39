"""plugins/modules/caribix_files: several files in one module run, run by
ansible-playbook on this machine (connection local) in a temporary
directory: written, left alone when equal, put back when changed by hand,
pruned, and nothing touched in check mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(tmp_path: Path, files: list[dict], *args: str, keep: list[str] | None = None, directories: list[dict] | None = None) -> dict:
    module_args = {"files": files, "mode": "0640", "prune_dir": str(tmp_path), "prune_patterns": ["*.conf"]}
    if directories is not None:
        module_args["directories"] = directories
    if keep is not None:
        module_args["prune_keep"] = keep
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [{"caribix_files": module_args, "register": "result"},
                  {"ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(tmp_path / "result.json")},
                   "check_mode": False}],
    }]))
    (tmp_path / "result.json").unlink(missing_ok=True)
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         str(playbook), *args],
        cwd=ROOT, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((tmp_path / "result.json").read_text())


def test_files_are_written_once_put_back_and_pruned(tmp_path):
    files = [{"path": str(tmp_path / "a.conf"), "content": "one\n"}, {"path": str(tmp_path / "b.conf"), "content": "two\n"}]
    (tmp_path / "gone.conf").write_text("a member that left\n")
    (tmp_path / "other.txt").write_text("not a .conf: kept\n")

    checked = run(tmp_path, files, "--check")
    assert checked["changed"] and not (tmp_path / "a.conf").exists() and (tmp_path / "gone.conf").exists()

    first = run(tmp_path, files)
    assert first["changed"] and sorted(first["written"]) == sorted(f["path"] for f in files)
    assert first["removed"] == [str(tmp_path / "gone.conf")]
    assert (tmp_path / "a.conf").read_text() == "one\n" and oct((tmp_path / "a.conf").stat().st_mode & 0o777) == "0o640"
    assert (tmp_path / "other.txt").exists()

    assert not run(tmp_path, files)["changed"]

    (tmp_path / "b.conf").write_text("changed by hand\n")
    (tmp_path / "a.conf").chmod(0o666)
    again = run(tmp_path, files)
    assert sorted(again["written"]) == sorted(f["path"] for f in files)
    assert (tmp_path / "b.conf").read_text() == "two\n" and oct((tmp_path / "a.conf").stat().st_mode & 0o777) == "0o640"


def test_prune_keep_spares_the_files_another_task_wrote(tmp_path):
    (tmp_path / "kept.conf").write_text("x\n")
    (tmp_path / "gone.conf").write_text("y\n")
    result = run(tmp_path, [], keep=[str(tmp_path / "kept.conf")])
    assert result["removed"] == [str(tmp_path / "gone.conf")] and (tmp_path / "kept.conf").exists()


def test_content_that_fails_validation_changes_nothing(tmp_path):
    target = tmp_path / "policy.conf"
    good = {"path": str(target), "content": "good\n", "validate": "grep -q good %s"}
    run(tmp_path, [good])
    assert target.read_text() == "good\n"
    playbook = tmp_path / "play.yml"
    bad = {**good, "content": "bad\n"}
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                     "tasks": [{"caribix_files": {"files": [bad]}}]}]))
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         str(playbook)],
        cwd=ROOT, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, capture_output=True, text=True, check=False,
    )
    assert done.returncode != 0 and "failed validation (grep -q good %s)" in done.stdout
    assert target.read_text() == "good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["play.yml", "policy.conf", "result.json"]


def test_a_file_can_keep_its_content_out_of_the_diff(tmp_path):
    files = [{"path": str(tmp_path / "big.conf"), "content": "secret-ish\n" * 3, "diff": False},
             {"path": str(tmp_path / "small.conf"), "content": "shown\n"}]
    result = run(tmp_path, files, "--check", "--diff")
    shown = {d["after_header"]: d["after"] for d in result["diff"]}
    assert shown[str(tmp_path / "small.conf")] == "shown\n"
    assert shown[str(tmp_path / "big.conf")] == "(content not shown: 33 bytes)\n"
    run(tmp_path, files)
    assert (tmp_path / "big.conf").read_text() == "secret-ish\n" * 3


def test_directories_are_made_before_their_files_and_kept_in_shape(tmp_path):
    nested = tmp_path / "etc" / "service.d"
    directories = [{"path": str(tmp_path / "etc")}, {"path": str(nested), "mode": "0750"}]
    files = [{"path": str(nested / "a.conf"), "content": "one\n"}]

    checked = run(tmp_path, files, "--check", directories=directories)
    assert checked["changed"] and checked["directories"] == [d["path"] for d in directories]
    assert not (tmp_path / "etc").exists()

    first = run(tmp_path, files, directories=directories)
    assert first["directories"] == [d["path"] for d in directories] and first["written"] == [files[0]["path"]]
    assert oct(nested.stat().st_mode & 0o777) == "0o750" and oct((tmp_path / "etc").stat().st_mode & 0o777) == "0o755"

    assert not run(tmp_path, files, directories=directories)["changed"]

    nested.chmod(0o777)
    again = run(tmp_path, files, directories=directories)
    assert again["directories"] == [str(nested)] and again["written"] == []
    assert oct(nested.stat().st_mode & 0o777) == "0o750"


def test_a_directory_whose_parents_are_missing_is_made_with_them(tmp_path):
    deep = tmp_path / "var" / "lib" / "metrics"
    first = run(tmp_path, [], directories=[{"path": str(deep), "mode": "0750"}])
    assert first["directories"] == [str(deep)]
    assert oct(deep.stat().st_mode & 0o777) == "0o750"
    assert not run(tmp_path, [], directories=[{"path": str(deep), "mode": "0750"}])["changed"]
