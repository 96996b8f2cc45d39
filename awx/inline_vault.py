"""Rewrite a whole-file vault (ansible-vault encrypt) as inline-encrypted values.

AWX imports an inventory sourced from a project without any vault
password: a whole-file vault such as inventories/<island>/group_vars/all/
vault.yml stops the import. Inline-encrypted values (`!vault |`, like
group_vars/monitoring/vault_monitoring.yml) are imported as ciphertext,
stored encrypted by AWX, and decrypted in the job by the Vault credential.
The variables and their values are unchanged (docs/awx.md).

  .venv/bin/python awx/inline_vault.py --vault-id lab@inventories/lab-vault-password.txt \
      inventories/guadeloupe/group_vars/all/vault.yml      # rewrites the file in place
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret


def encrypt_leaves(value, vault: VaultLib, vault_id: str, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        return "".join(f"{pad}{key}:{render(child, vault, vault_id, indent)}" for key, child in value.items())
    raise TypeError(f"only mappings of strings are supported, got {type(value).__name__}")


def render(value, vault: VaultLib, vault_id: str, indent: int) -> str:
    if isinstance(value, dict):
        return "\n" + encrypt_leaves(value, vault, vault_id, indent + 2)
    if not isinstance(value, str):
        raise TypeError(f"only strings can be encrypted inline, got {type(value).__name__}")
    cipher = vault.encrypt(value, vault_id=vault_id).decode()
    body = "".join(f"{' ' * (indent + 2)}{line}\n" for line in cipher.splitlines())
    return " !vault |\n" + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vault-id", required=True, help="ID@PASSWORD_FILE")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    vault_id, password_file = args.vault_id.split("@", 1)
    secret = VaultSecret(Path(password_file).read_bytes().strip())
    vault = VaultLib([(vault_id, secret)])
    for path in args.files:
        text = path.read_text()
        if not text.startswith("$ANSIBLE_VAULT"):
            print(f"{path}: not a whole-file vault, left as it is")
            continue
        plain = vault.decrypt(text).decode()
        header = "".join(line + "\n" for line in plain.splitlines() if line.startswith("#") or line == "---")
        data = yaml.safe_load(plain)
        path.write_text((header if header.startswith("---") else "---\n" + header)
                        + encrypt_leaves(data, vault, vault_id))
        print(f"{path}: {len(data)} variable(s) now encrypted inline with vault id {vault_id}")


if __name__ == "__main__":
    main()
