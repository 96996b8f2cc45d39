"""The execution environment is a working engine (issue 19, docs/awx.md).

Every test runs the real image (CARIBIX_EE_IMAGE, else the one
`bash scripts/ee.sh image` names) the way AWX does: ansible-runner with
Docker as its container engine, a private data directory holding a copy
of the project, and the secrets given as AWX gives them (a vault
credential answering the vault-id prompt, a custom credential type's
extra vars). Results are compared with the same play run by the
controller's .venv. No test skips: a missing image, tool or pin fails.
Run with `bash scripts/ee.sh test`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import jinja2.sandbox
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ISLAND = "guadeloupe"
ROUTE_SERVERS = ("gp-rs1", "gp-rs2")
LAB_VAULT_ID = "lab"
LAB_VAULT_PASSWORD_FILE = REPO / "inventories" / "lab-vault-password.txt"
# The prompt ansible-playbook shows for `--vault-id lab@prompt`, as AWX's
# vault credential answers it (awx/main/tasks/jobs.py builds this regex).
VAULT_PROMPT = r"Vault password \({}\):\s*?$"


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


@pytest.fixture(scope="session")
def image() -> str:
    name = os.environ.get("CARIBIX_EE_IMAGE") or subprocess.run(
        ["bash", str(REPO / "scripts" / "ee.sh"), "image"], check=True, capture_output=True, text=True
    ).stdout.strip()
    inspect = subprocess.run(["docker", "image", "inspect", name], capture_output=True, text=True)
    assert inspect.returncode == 0, f"{name} does not exist: build it with `bash scripts/ee.sh build`"
    return name


def in_image(image: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", "--name", f"caribix-ee-test-{uuid.uuid4().hex[:8]}", image, "bash", "-c", script],
        capture_output=True, text=True, timeout=300,
    )


def copy_project(dest: Path) -> Path:
    """The project as AWX checks it out: tracked and untracked files of the
    working tree, without the lab vault password (a production project
    never holds its password; the credential brings it)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    for name in files:
        source = REPO / name
        if not source.is_file() or source == LAB_VAULT_PASSWORD_FILE:
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dest


def clean_env() -> dict[str, str]:
    # scripts/test.sh exports ANSIBLE_CONFIG for the real checkout; each
    # run here must read the ansible.cfg of its own copy.
    return {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}


def runner(image: str, private: Path, playbook: str, cmdline: str, *, passwords=None, extravars=None,
           envvars=None) -> tuple[int, str]:
    """ansible-runner in the EE, as an AWX job: project in PRIVATE/project,
    credentials in PRIVATE/env. Returns (rc, stdout)."""
    env_dir = private / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    # Runner in a container always appends -i /runner/inventory. Unless a
    # test put AWX's inventory script there, the island comes first by its
    # own path in the project (validation names the island after the
    # directory its hosts come from, as on the controller) and
    # /runner/inventory is the same directory again (a second source of
    # any other content would rank the shared group_vars/ over the island).
    if not (private / "inventory").exists():
        (private / "inventory").symlink_to(Path("project") / "inventories" / ISLAND)
        cmdline = f"-i /runner/project/inventories/{ISLAND} {cmdline}"
    for name, data in (("passwords", passwords), ("extravars", extravars)):
        if data is not None:
            (env_dir / name).write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    ident = f"caribix-ee-{uuid.uuid4().hex[:8]}"
    (env_dir / "envvars").write_text(yaml.safe_dump({"ANSIBLE_NOCOLOR": "1", **(envvars or {})}))
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-runner"), "run", str(private), "--playbook", playbook, "--ident", ident,
         "--process-isolation", "--process-isolation-executable", "docker", "--container-image", image,
         # Our container name prefix; docker keeps the last --name.
         f"--container-option=--name={ident}", f"--cmdline={cmdline}"],
        capture_output=True, text=True, timeout=900, env=clean_env(),
    )
    stdout_file = private / "artifacts" / ident / "stdout"
    stdout = stdout_file.read_text() if stdout_file.exists() else proc.stdout
    rc_file = private / "artifacts" / ident / "rc"
    rc = int(rc_file.read_text()) if rc_file.exists() else proc.returncode
    return rc, stdout + proc.stderr


def controller(project: Path, args: list[str]) -> tuple[int, str]:
    """The same play with the controller's .venv, the vault password from
    the committed lab file (outside the copy)."""
    env = dict(clean_env(), ANSIBLE_CONFIG=str(project / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "--vault-id", f"{LAB_VAULT_ID}@{LAB_VAULT_PASSWORD_FILE}", *args],
        cwd=project, capture_output=True, text=True, timeout=900, env=env,
    )
    return proc.returncode, proc.stdout + proc.stderr


def vault_credential() -> dict[str, str]:
    """env/passwords as AWX fills it from a Vault credential with vault id 'lab'."""
    return {VAULT_PROMPT.format(LAB_VAULT_ID): LAB_VAULT_PASSWORD_FILE.read_text().strip()}


def vault_values(relative: str) -> dict:
    """A vault file of the island decrypted on the controller."""
    out = subprocess.run(
        [str(VENV_BIN / "ansible-vault"), "view", "--vault-id", f"{LAB_VAULT_ID}@{LAB_VAULT_PASSWORD_FILE}",
         str(REPO / relative)],
        check=True, capture_output=True, text=True, env=clean_env(),
    ).stdout
    return yaml.safe_load(out)


# --- The image holds exactly the project's toolchain ------------------------


def test_ee_pins_are_the_projects_pins():
    project = pins(REPO / "requirements.txt")
    for listing in ("requirements.txt", "build-requirements.txt", "wheelhouse-extra.txt"):
        ee = pins(REPO / "images" / "ee" / listing)
        wrong = {name: (version, project.get(name)) for name, version in ee.items() if project.get(name) != version}
        assert not wrong, f"images/ee/{listing} vs requirements.txt: {wrong}"


def test_looking_glass_wheels_are_in_the_wheelhouse_list():
    role = yaml.safe_load((REPO / "roles" / "looking_glass" / "defaults" / "main.yml").read_text())
    wanted = {w.lower() for w in role["looking_glass_wheels"]}
    extra = {f"{n}=={v}" for n, v in pins(REPO / "images" / "ee" / "wheelhouse-extra.txt").items()}
    assert wanted <= extra, f"images/ee/wheelhouse-extra.txt lacks {sorted(wanted - extra)}"


def test_image_python_packages_are_exactly_the_pins(image):
    result = in_image(image, "python3 -m pip list --format json --path /usr/local/lib/python3.11/dist-packages")
    assert result.returncode == 0, result.stderr
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(result.stdout)}
    wanted = pins(REPO / "images" / "ee" / "requirements.txt")
    wanted["caribix"] = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert installed == wanted, (
        f"missing or other versions: { {n: (v, installed.get(n)) for n, v in wanted.items() if installed.get(n) != v} }; "
        f"not pinned: {sorted(set(installed) - set(wanted))}"
    )


def test_image_is_debian_12_python_311_with_the_tools(image):
    script = (
        "set -e; cut -d. -f1 /etc/debian_version; python3 -c 'import sys; print(sys.version_info[:2])'; "
        "ansible --version | head -1; bird --version 2>&1; nft --version; promtool --version 2>&1 | head -1; "
        "command -v bgpq4 ssh dumb-init ansible-runner; "
        "python3 /opt/caribix-ee/check_collections.py /opt/caribix-ee/requirements.yml"
    )
    result = in_image(image, script)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "12"
    assert "(3, 11)" in out
    assert "ansible [core 2.19.14]" in out
    assert "BIRD version 2." in out and "nftables v" in out and "promtool, version" in out


def test_image_caribix_package_is_the_projects(image):
    """The caribix package in the image is python/ as it is now: an image
    built before a change to python/ would build other configs."""
    script = "python3 - <<'EOF'\nimport caribix, hashlib, pathlib\nroot = pathlib.Path(caribix.__file__).parent\n" \
             "for p in sorted(root.rglob('*.py')):\n    print(p.relative_to(root), hashlib.sha256(p.read_bytes()).hexdigest())\nEOF"
    result = in_image(image, script)
    assert result.returncode == 0, result.stderr
    import hashlib

    root = REPO / "python" / "caribix"
    mine = "".join(f"{p.relative_to(root)} {hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in sorted(root.rglob("*.py")))
    assert result.stdout == mine, "the image's caribix package differs from python/caribix: rebuild (bash scripts/ee.sh build)"


# --- Validation and the route-server build, in the EE and on the controller --


@pytest.fixture(scope="module")
def route_server_runs(image, tmp_path_factory):
    """The route-server build of one island, once in the EE (ansible-runner,
    vault credential) and once on the controller, each from its own copy."""
    playbook = "tests/ee/playbooks/route_server_build.yml"
    ee_private = tmp_path_factory.mktemp("caribix-ee-runner")
    copy_project(ee_private / "project")
    ee = runner(image, ee_private, playbook, f"--check --vault-id {LAB_VAULT_ID}@prompt",
                passwords=vault_credential())
    ctl_project = copy_project(tmp_path_factory.mktemp("caribix-ee-controller") / "project")
    ctl = controller(ctl_project, ["-i", f"inventories/{ISLAND}", "--check", playbook])
    return {"ee": (ee, ee_private / "project"), "controller": (ctl, ctl_project)}


def test_validation_and_build_pass_in_the_ee_and_on_the_controller(route_server_runs):
    for where, ((rc, out), _) in route_server_runs.items():
        assert rc == 0, f"{where} run failed:\n{out[-4000:]}"
        assert "Check the island data before any host is touched" in out, where
        assert re.search(r"gp-rs2\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", out), f"{where}:\n{out[-2000:]}"


def test_ee_builds_the_same_bird_conf_as_the_controller(route_server_runs):
    (_, ee_project), (_, ctl_project) = route_server_runs["ee"], route_server_runs["controller"]
    for host in ROUTE_SERVERS:
        ee_conf = ee_project / "build" / "route_server" / host / "bird.conf"
        ctl_conf = ctl_project / "build" / "route_server" / host / "bird.conf"
        assert ee_conf.is_file(), f"the EE built no {ee_conf}"
        assert ctl_conf.is_file(), f"the controller built no {ctl_conf}"
        assert ee_conf.read_text() == ctl_conf.read_text(), f"{host}: bird.conf differs between the EE and the controller"
        assert "router id" in ee_conf.read_text()


def test_broken_island_fails_validation_the_same_way(image, tmp_path_factory):
    """A test proves it can fail: a duplicated member ASN stops the run in
    the EE and on the controller, with the same report."""

    def break_members(project: Path) -> None:
        members_file = project / "inventories" / ISLAND / "group_vars" / "all" / "members.yml"
        data = yaml.safe_load(members_file.read_text())
        data["members"][1]["asn"] = data["members"][0]["asn"]
        members_file.write_text(yaml.safe_dump(data, sort_keys=False))

    ee_private = tmp_path_factory.mktemp("caribix-ee-broken")
    break_members(copy_project(ee_private / "project"))
    ee_rc, ee_out = runner(image, ee_private, "playbooks/validate.yml",
                           f"--check --vault-id {LAB_VAULT_ID}@prompt", passwords=vault_credential())
    ctl_project = copy_project(tmp_path_factory.mktemp("caribix-ee-broken-ctl") / "project")
    break_members(ctl_project)
    ctl_rc, ctl_out = controller(ctl_project, ["-i", f"inventories/{ISLAND}", "--check", "playbooks/validate.yml"])

    def report(out: str) -> list[str]:
        return [line.strip() for line in out.splitlines() if re.match(r"\s*\d+\.\s", line)]

    assert ee_rc != 0 and ctl_rc != 0, f"a duplicated ASN passed validation (EE rc {ee_rc}, controller rc {ctl_rc})"
    assert report(ee_out), f"no numbered problem list in the EE's output:\n{ee_out[-3000:]}"
    assert report(ee_out) == report(ctl_out)
    assert any("asn" in line.lower() for line in report(ee_out))


# --- Secrets through AWX credentials ------------------------------------------


def read_secrets(project: Path) -> dict[str, dict]:
    directory = project / "build" / "ee-secrets"
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def test_vault_credential_gives_the_playbooks_the_vaults_values(image, tmp_path):
    private = tmp_path / "private"
    project = copy_project(private / "project")
    rc, out = runner(image, private, "tests/ee/playbooks/show_secrets.yml",
                     f"--vault-id {LAB_VAULT_ID}@prompt", passwords=vault_credential())
    assert rc == 0, out[-3000:]
    seen = read_secrets(project)
    bgp = vault_values(f"inventories/{ISLAND}/group_vars/all/vault.yml")["vault_bgp_passwords"]
    assert set(seen) == {*ROUTE_SERVERS, "gp-mon1"}
    for host, secrets in seen.items():
        assert secrets["vault_bgp_passwords"] == bgp, host
    # The monitoring host's receiver secrets: the controller's view of the
    # same variables is the reference.
    ctl_project = copy_project(tmp_path / "controller")
    ctl_rc, ctl_out = controller(ctl_project, ["-i", f"inventories/{ISLAND}", "tests/ee/playbooks/show_secrets.yml"])
    assert ctl_rc == 0, ctl_out[-3000:]
    assert read_secrets(ctl_project) == seen


def test_without_the_vault_credential_the_run_fails(image, tmp_path):
    private = tmp_path / "private"
    copy_project(private / "project")
    rc, out = runner(image, private, "tests/ee/playbooks/show_secrets.yml", "")
    assert rc != 0, "the vault was readable without its credential: is a password file in the project?"
    assert "vault" in out.lower()


def awx_extra_vars(credential_type: dict, inputs: dict) -> dict:
    """What AWX injects for a custom credential type: each extra_vars value
    rendered with the credential's inputs in Jinja's sandbox."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    return {key: env.from_string(value).render(**inputs) for key, value in credential_type["injectors"]["extra_vars"].items()}


def test_monitoring_receivers_credential_type_reaches_the_monitoring_variables(image, tmp_path):
    credential_type = yaml.safe_load((REPO / "awx" / "credential-types" / "caribix-monitoring-receivers.yml").read_text())
    field_ids = {field["id"] for field in credential_type["inputs"]["fields"]}
    # Values unlike the vault's, so the test tells which one the play read.
    inputs = {"smtp_password": "from-the-awx-credential", "webhook_url": "https://noc.example/hook/awx-credential"}
    assert set(inputs) == field_ids
    private = tmp_path / "private"
    project = copy_project(private / "project")
    # AWX writes injected extra vars with !unsafe (never templated): so here.
    extravars = "".join(f"{key}: !unsafe {json.dumps(value)}\n" for key, value in awx_extra_vars(credential_type, inputs).items())
    rc, out = runner(image, private, "tests/ee/playbooks/show_secrets.yml",
                     f"--limit gp-mon1 --vault-id {LAB_VAULT_ID}@prompt",
                     passwords=vault_credential(), extravars=extravars)
    assert rc == 0, out[-3000:]
    seen = read_secrets(project)["gp-mon1"]
    assert seen["monitoring_alertmanager_smtp_password"] == inputs["smtp_password"]
    assert seen["monitoring_alertmanager_webhook_url"] == inputs["webhook_url"]


# --- The whole AWX path: project-sourced inventory, then a job ---------------


def awx_project(dest: Path) -> Path:
    """A project as docs/awx.md asks for it: ansible.cfg without a vault
    identity (README, Secrets), the island's whole-file vault rewritten with
    awx/inline_vault.py (same variables, same values). The repository
    itself reads AWX's inventory script (ansible.cfg) and finds the
    island's directory from it (plugins/action/caribix_validate_inventory.py)."""
    project = copy_project(dest)
    cfg = project / "ansible.cfg"
    assert "ansible.builtin.script" in cfg.read_text()
    cfg.write_text("".join(line for line in cfg.read_text().splitlines(keepends=True) if not line.startswith("vault_identity_list")))
    subprocess.run(
        [sys.executable, str(REPO / "awx" / "inline_vault.py"), "--vault-id", f"{LAB_VAULT_ID}@{LAB_VAULT_PASSWORD_FILE}",
         str(project / "inventories" / ISLAND / "group_vars" / "all" / "vault.yml")],
        check=True, capture_output=True, text=True,
    )
    return project


def awx_inventory_import(image: str, project: Path) -> str:
    """What an AWX inventory update does for a source "Sourced from a
    Project": ansible-inventory --list --export in the EE, no vault password."""
    proc = subprocess.run(
        ["docker", "run", "--rm", "--name", f"caribix-ee-import-{uuid.uuid4().hex[:8]}", "--user", "0",
         "-v", f"{project}:/runner/project", "-w", "/runner/project", image,
         "ansible-inventory", "-i", f"inventories/{ISLAND}", "--list", "--export"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"inventory import failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_awx_import_keeps_secrets_encrypted_and_the_job_builds_the_same_bird_conf(image, tmp_path, route_server_runs):
    private = tmp_path / "private"
    project = awx_project(private / "project")
    exported = awx_inventory_import(image, project)
    assert "__ansible_vault" in exported and "3IneWig88" not in exported, "the import stored a decrypted secret"
    # AWX hands the job its stored inventory as an executable script.
    (private / "inventory").mkdir()
    script = private / "inventory" / "hosts"
    script.write_text(f"#!/bin/sh\ncat <<'CARIBIX_INVENTORY'\n{exported}\nCARIBIX_INVENTORY\n")
    script.chmod(0o755)
    # ANSIBLE_VARS_ENABLED: the import already merged the shared group_vars/
    # under the island's; reading them again in the job would rank them
    # above the island (docs/awx.md, "Job environment").
    rc, out = runner(image, private, "tests/ee/playbooks/route_server_build.yml",
                     f"--check --vault-id {LAB_VAULT_ID}@prompt", passwords=vault_credential(),
                     envvars={"ANSIBLE_VARS_ENABLED": "host_group_vars"})
    assert rc == 0, out[-4000:]
    _, ctl_project = route_server_runs["controller"]
    for host in ROUTE_SERVERS:
        awx_conf = project / "build" / "route_server" / host / "bird.conf"
        assert awx_conf.is_file(), f"no {awx_conf}"
        assert awx_conf.read_text() == (ctl_project / "build" / "route_server" / host / "bird.conf").read_text(), host


def test_awx_job_without_the_job_environment_reads_the_shared_defaults_over_the_island(image, tmp_path):
    """Why the job environment matters: with the vars plugin run again on
    the imported inventory, the shared default caribix_lab_mode (false)
    wins over the island's (true)."""
    private = tmp_path / "private"
    project = awx_project(private / "project")
    exported = awx_inventory_import(image, project)
    assert json.loads(exported)["all"]["vars"]["caribix_lab_mode"] is True
    (private / "inventory").mkdir()
    script = private / "inventory" / "hosts"
    script.write_text(f"#!/bin/sh\ncat <<'CARIBIX_INVENTORY'\n{exported}\nCARIBIX_INVENTORY\n")
    script.chmod(0o755)
    (private / "project" / "caribix-lab-mode.yml").write_text(
        "---\n- name: Show caribix_lab_mode\n  hosts: gp-rs1\n  gather_facts: false\n  tasks:\n"
        "    - name: Show it\n      ansible.builtin.debug:\n        msg: \"caribix_lab_mode={{ caribix_lab_mode }}\"\n")
    rc, out = runner(image, private, "caribix-lab-mode.yml", f"--vault-id {LAB_VAULT_ID}@prompt", passwords=vault_credential())
    assert rc == 0, out[-3000:]
    assert "caribix_lab_mode=False" in out, out[-2000:]
