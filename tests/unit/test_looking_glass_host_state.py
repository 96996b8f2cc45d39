"""roles/looking_glass/files/looking_glass_host_state.py: the one question the
looking-glass role asks a host. Run here as the role runs it (python3 -c, one
JSON argument), with this controller's venv standing in for the host's."""

from __future__ import annotations

import getpass
import hashlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "looking_glass" / "files" / "looking_glass_host_state.py"


def ask(**asked) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT.read_text(), json.dumps(asked)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_answer_says_what_the_venv_lacks_and_never_shows_a_secret(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # The venv: this controller's (its python and the dists it holds).
    (home / "venv").symlink_to(Path(sys.prefix))
    jinja = importlib.metadata.version("jinja2")
    key = tmp_path / "host.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
    key.chmod(0o640)
    export = tmp_path / "export.json"
    export.write_text('{"version": "1.0"}\n')
    answer = ask(home=str(home), birdc=sys.executable, ixf_export=str(export),
                 self_signed_certificate=str(tmp_path / "none.crt"), user=getpass.getuser(), key=str(key),
                 # Names compare as pip does: Jinja2 is the dist jinja2 (case, and - _ . alike).
                 pins=[f"Jinja2=={jinja}", "waitress==0.0.1", "no_such-project==1.0"])
    assert answer["missing_wheels"] == ["waitress==0.0.1", "no_such-project==1.0"]
    assert answer["python"]["version"] == "%d.%d" % sys.version_info[:2]
    assert answer["birdc"] is True and answer["self_signed_certificate"] is False
    assert answer["ixf_published"] == '{"version": "1.0"}\n'
    assert answer["user"]["group"] and answer["group_exists"] in (True, False)
    assert answer["key"] == {"sha256": hashlib.sha256(key.read_bytes()).hexdigest(), "owner": getpass.getuser(),
                             "group": answer["key"]["group"], "mode": "0640"}
    assert "secret" not in json.dumps(answer)


def test_a_fresh_host_lacks_everything(tmp_path):
    answer = ask(home=str(tmp_path / "none"), birdc=str(tmp_path / "birdc"), ixf_export=str(tmp_path / "x.json"),
                 self_signed_certificate=str(tmp_path / "y.crt"), user="caribix-no-such-user", key=str(tmp_path / "k"),
                 pins=["waitress==3.0.2"])
    assert answer["missing_wheels"] == ["waitress==3.0.2"] and answer["venv_versions"] == []
    assert answer["user"] is None and answer["group_exists"] is False and answer["key"] is None
    assert answer["birdc"] is False and answer["ixf_published"] == "" and answer["old_package_zip"] is False
