"""Shared helpers of the unit tests."""

from __future__ import annotations

import shutil

import pytest


def require_tool(command: str, package: str) -> str:
    """The path of a controller tool that scripts/bootstrap.sh installs.

    A missing tool means the machine was not bootstrapped: the test fails
    and says so, instead of skipping and letting the suite pass without it.
    """
    path = shutil.which(command)
    if path is None:
        pytest.fail(f"{command} not found: Debian package {package} (scripts/controller-packages.txt); run scripts/bootstrap.sh")
    return path
