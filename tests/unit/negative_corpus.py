"""Build the bad inventories of tests/negative/ (used by test_validate_negative.py).

Each case is tests/negative/<case>/case.yml, a list of edits applied to a
copy of the real island inventories (so the cross-island checks see real
siblings), and expected_error.txt, the exact messages the validator must
produce, one per line, nothing more and nothing less.

Edits (paths are relative to inventories/, keys dotted, list indexes as
numbers): ``set`` + ``value``, ``delete`` (on a whole-file vault too: it
is decrypted and encrypted again with the lab password), ``text`` (replace
the file's content), ``replace`` + ``with`` (replace a piece of its text, to
write what a dump would change, like an unquoted MAC), ``append`` (add text
at its end), ``decrypt: true`` (write the vault's plain text, as a
forgotten ``ansible-vault encrypt`` would), ``vault_password`` (re-encrypt
the file with another password), ``remove: true`` (delete the file or
directory, e.g. ``../snapshots/guadeloupe``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
NEGATIVE = REPOSITORY / "tests" / "negative"
LAB_VAULT_ID = "lab@inventories/lab-vault-password.txt"


def case_names() -> list[str]:
    return sorted(path.name for path in NEGATIVE.iterdir() if (path / "case.yml").is_file())


def copy_repository_data(destination: Path) -> None:
    """The islands, the lab vault password, the shared group_vars/, the
    islands' snapshots (validation reads them) and the lab's announcements."""
    shutil.copytree(REPOSITORY / "inventories", destination / "inventories")
    shutil.copytree(REPOSITORY / "group_vars", destination / "group_vars")
    shutil.copytree(REPOSITORY / "snapshots", destination / "snapshots")
    shutil.copytree(REPOSITORY / "lab" / "announcements", destination / "lab" / "announcements")


def _walk(document: Any, keys: list[str]) -> tuple[Any, Any]:
    """The container holding the last key, and that key."""
    node = document
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last: Any = keys[-1]
    return node, (int(last) if isinstance(node, list) else last)


def apply_edit(inventories: Path, edit: dict[str, Any]) -> None:
    path = inventories / edit["file"]
    if edit.get("remove"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        return
    if "text" in edit:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(edit["text"], encoding="utf-8")
        return
    if "replace" in edit:
        text = path.read_text(encoding="utf-8")
        assert edit["replace"] in text, f"{edit['file']}: no {edit['replace']!r} to replace"
        path.write_text(text.replace(edit["replace"], edit["with"], 1), encoding="utf-8")
        return
    if "append" in edit:
        path.write_text(path.read_text(encoding="utf-8") + edit["append"], encoding="utf-8")
        return
    vault = _lab_vault(inventories) if path.read_bytes().startswith(b"$ANSIBLE_VAULT") else None
    if edit.get("decrypt"):
        path.write_bytes(vault.decrypt(path.read_bytes()))
        return
    if "vault_password" in edit:
        from ansible.parsing.vault import VaultLib, VaultSecret

        from caribix.model import vault_secrets

        plaintext = VaultLib(vault_secrets([str(inventories / "lab-vault-password.txt").join(["lab@", ""])])).decrypt(path.read_bytes())
        other = VaultSecret(edit["vault_password"].encode())
        path.write_bytes(VaultLib([("lab", other)]).encrypt(plaintext, other, vault_id="lab"))
        return
    text = vault.decrypt(path.read_bytes()).decode() if vault else path.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    keys = edit.get("set", edit.get("delete")).split(".")
    node, key = _walk(document, keys)
    if "set" in edit:
        node[key] = edit["value"]
    else:
        del node[key]
    text = "---\n" + yaml.safe_dump(document, sort_keys=False)
    if vault:
        path.write_bytes(vault.encrypt(text.encode(), vault.secrets[0][1], vault_id="lab"))
    else:
        path.write_text(text, encoding="utf-8")


def _lab_vault(inventories: Path):
    from ansible.parsing.vault import VaultLib

    from caribix.model import vault_secrets

    return VaultLib(vault_secrets([f"lab@{inventories / 'lab-vault-password.txt'}"]))


def build_case(name: str, destination: Path) -> Path:
    """Copy the data into ``destination``, apply the case; return the
    island inventory to validate (relative to ``destination``)."""
    case = yaml.safe_load((NEGATIVE / name / "case.yml").read_text(encoding="utf-8"))
    copy_repository_data(destination)
    for edit in case["edits"]:
        apply_edit(destination / "inventories", edit)
    return Path("inventories") / case.get("island", "guadeloupe")


def expected_errors(name: str) -> list[str]:
    text = (NEGATIVE / name / "expected_error.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]
