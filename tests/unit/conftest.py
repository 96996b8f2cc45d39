"""Shared helpers of the unit tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# The example islands' secrets use the lab vault id. ansible.cfg names no
# vault id (production brings its own): the tests' Ansible runs inherit it
# from here, as scripts/lab.sh's runs get it from lab.sh.
os.environ.setdefault(
    "ANSIBLE_VAULT_IDENTITY_LIST", f"lab@{Path(__file__).resolve().parents[2] / 'inventories' / 'lab-vault-password.txt'}"
)


def require_tool(command: str, package: str) -> str:
    """The path of a controller tool that scripts/bootstrap.sh installs.

    A missing tool means the machine was not bootstrapped: the test fails
    and says so, instead of skipping and letting the suite pass without it.
    """
    path = shutil.which(command)
    if path is None:
        pytest.fail(f"{command} not found: Debian package {package} (scripts/controller-packages.txt); run scripts/bootstrap.sh")
    return path


def host_agent(role: str, name: str):
    """A program a role copies onto its hosts (roles/<role>/files/<name>.py,
    standard library only), imported for its unit tests."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "roles" / role / "files" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
