"""Read one island's data as the validator, the IX-F export and the
new-site command need it: plain Python values, each tied to the file it
came from.

Ansible merges variables from many files, so a merged value no longer says
where it was written. The data model puts each kind of value in one file
(see docs/data-model.md), which lets every error message name that file
deterministically: ``members`` -> ``group_vars/all/members.yml`` and so on.

Two ways in:

* :func:`load_island` reads an inventory directory straight from disk
  (the CLI, the negative test corpus, the IX-F export);
* the Ansible action plugin builds an :class:`Island` from the variables
  Ansible has already merged (what the roles will really see).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Where each top-level variable of the data model is declared, relative to
# the inventory directory. Error messages use this to name the file.
VARIABLE_FILES = {
    "caribix_lab_mode": "group_vars/all/exchange.yml",
    "exchange": "group_vars/all/exchange.yml",
    "members": "group_vars/all/members.yml",
    "inter_island_links": "group_vars/all/inter_island.yml",
    "vault_bgp_passwords": "group_vars/all/vault.yml",
}

# Shared policy (root group_vars/all/data_model.yml) with the values used
# when that file is absent, so the validator also works on a bare copy.
POLICY_DEFAULTS: dict[str, Any] = {
    "caribix_lab_mode": False,
    "caribix_member_port_speeds": [1000, 10000, 25000, 40000, 100000, 400000],
    "caribix_max_prefix_ceiling": {"ipv4": 100000, "ipv6": 25000},
    "caribix_member_extra_fields": [],
}
POLICY_FILE = "group_vars/all/data_model.yml"

# Host groups every island has (hosts.yml), and how many hosts each needs.
REQUIRED_GROUPS = {
    "route_servers": 2,
    "peering_switches": 1,
    "monitoring": 1,
    "looking_glass": 1,
}

# Directory under inventories/ that is a template, not an island.
TEMPLATE_DIR_NAME = "template"


class DataFileError(Exception):
    """A data file cannot be read (YAML syntax, undecryptable vault)."""

    def __init__(self, path: str, problem: str, expected: str, field: str = ""):
        what = f"field {field}: " if field else ""
        super().__init__(f"{path}: {what}{problem}; expected {expected}")
        self.path = path
        self.problem = problem
        self.expected = expected
        self.field = field


class VaultValue:
    """An inline ``!vault`` value: its presence matters, not its text."""

    def __init__(self, ciphertext: str):
        self.ciphertext = ciphertext

    def __repr__(self) -> str:
        return "VaultValue(...)"


class _AnsibleYamlLoader(yaml.SafeLoader):
    """SafeLoader that understands the two tags Ansible adds to YAML and
    refuses a key given twice in one mapping (YAML would keep the last
    one silently: a second ``members:`` drops the first list)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=False)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key '{key}' is defined twice, first at line {seen[key].start_mark.line + 1}; YAML would keep only the last",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _construct_vault(loader: yaml.SafeLoader, node: yaml.Node) -> VaultValue:
    return VaultValue(loader.construct_scalar(node))


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_AnsibleYamlLoader.add_constructor("!vault", _construct_vault)
_AnsibleYamlLoader.add_constructor("!unsafe", _construct_unsafe)


def display_path(path: Path | str) -> str:
    """A path as the engineer types it: relative to the current directory
    (the repository root) when below it, else absolute."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative


def vault_secrets(vault_ids: list[str] | None):
    """Vault secrets from ``label@file`` identities, by default those of
    ansible.cfg (``vault_identity_list``), as ansible-playbook would."""
    from ansible import constants as C
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import get_file_vault_secret

    identities = vault_ids if vault_ids is not None else list(C.DEFAULT_VAULT_IDENTITY_LIST or [])
    password_file = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if not identities and password_file:
        identities = [f"default@{password_file}"]
    secrets = []
    loader = DataLoader()
    for identity in identities:
        label, _, filename = identity.rpartition("@")
        # Also runs executable password scripts, as ansible-playbook does.
        secret = get_file_vault_secret(filename=os.path.expanduser(filename), vault_id=label or None, loader=loader)
        secret.load()
        secrets.append((label or "default", secret))
    return secrets


def read_yaml(path: Path, vault_ids: list[str] | None = None) -> Any:
    """Load one YAML file, decrypting it first if it is a whole-file vault."""
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataFileError(shown, f"cannot be read ({error.strerror})", "a readable YAML file") from error
    if data.startswith(b"$ANSIBLE_VAULT"):
        from ansible.parsing.vault import VaultLib

        try:
            data = VaultLib(vault_secrets(vault_ids)).decrypt(data)
        except Exception as error:  # any vault failure is reported the same way
            raise DataFileError(
                shown,
                f"cannot be decrypted ({str(error).rstrip('.')})",
                "a vault readable with the vault ids of ansible.cfg (vault_identity_list)",
            ) from error
    try:
        return yaml.load(data, Loader=_AnsibleYamlLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        if "is defined twice" in problem:
            raise DataFileError(shown, f"is not valid{where}: {problem}", "each key once (merge the two into one)") from error
        raise DataFileError(shown, f"is not valid YAML{where} ({problem})", "well-formed YAML") from error


def _var_files(directory: Path) -> list[Path]:
    """group_vars/all.yml or the *.yml files of group_vars/all/, sorted as
    Ansible reads them."""
    files: list[Path] = []
    for suffix in (".yml", ".yaml"):
        single = directory.with_suffix(suffix)
        if single.is_file():
            files.append(single)
    if directory.is_dir():
        files.extend(sorted(p for p in directory.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()))
    return files


def is_vault_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(14) == b"$ANSIBLE_VAULT"
    except OSError:
        return False


def inventory_files(inventory: Path) -> list[Path]:
    """Every YAML file Ansible reads variables from in an island inventory."""
    files = [inventory / "hosts.yml"] if (inventory / "hosts.yml").is_file() else []
    for directory in ("group_vars", "host_vars"):
        root = inventory / directory
        if root.is_dir():
            files.extend(sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()))
    return files


def syntax_problems(inventory: Path) -> list[DataFileError]:
    """YAML errors (syntax, a key given twice) in the inventory's plain
    files, each with its file and line; whole-file vaults are left to the
    vault (their content is read when decrypted)."""
    problems = []
    for path in inventory_files(inventory):
        if is_vault_file(path):
            continue
        try:
            read_yaml(path)
        except DataFileError as error:
            problems.append(error)
    return problems


def _inventory_vars(content: Any) -> dict[str, Any]:
    """The variables a hosts.yml sets inline (group vars and host vars)."""
    found: dict[str, Any] = {}
    if not isinstance(content, dict):
        return found
    for body in content.values():
        if not isinstance(body, dict):
            continue
        found.update(body.get("vars") or {})
        for host_vars in (body.get("hosts") or {}).values():
            found.update(host_vars or {})
        found.update(_inventory_vars(body.get("children") or {}))
    return found


def _plain_secret(value: Any) -> bool:
    """Whether ``value`` holds text that is not an inline vault."""
    if isinstance(value, VaultValue) or value is None or isinstance(value, bool):
        return False
    if isinstance(value, dict):
        return any(_plain_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(_plain_secret(item) for item in value)
    return str(value).strip() != ""


# Lists, not secrets, that a vault file may carry in clear.
VAULT_CLEAR_VARIABLES = {"vault_monitoring_placeholders"}


def placement_problems(inventory: Path) -> list[DataFileError]:
    """Data-model variables outside their one file, and vault files
    committed decrypted.

    Ansible would merge a second ``members`` (another group_vars file) or a
    host_vars ``exchange`` silently, and the playbook validates with one
    host's variables: each variable of VARIABLE_FILES may be set in its
    file only."""
    problems = []
    for path in inventory_files(inventory):
        shown = display_path(path)
        if is_vault_file(path):
            continue
        try:
            content = read_yaml(path)
        except DataFileError:
            continue  # syntax_problems / load_island report it
        variables = _inventory_vars(content) if path.name == "hosts.yml" else content if isinstance(content, dict) else {}
        for name in variables:
            home = VARIABLE_FILES.get(str(name))
            if home is not None and path.resolve() != (inventory / home).resolve():
                where = "overrides the island's value for one host" if "host_vars" in path.parts else "sets it a second time"
                problems.append(
                    DataFileError(
                        shown,
                        f"{where} (Ansible would merge the two silently)",
                        f"{name} set in {display_path(inventory / home)} only (docs/data-model.md)",
                        field=str(name),
                    )
                )
        if path.stem.startswith("vault") and any(
            _plain_secret(value) for name, value in variables.items() if name not in VAULT_CLEAR_VARIABLES
        ):
            problems.append(
                DataFileError(
                    shown,
                    "is not encrypted: its secrets would be committed in plain text",
                    f"a vault: `ansible-vault encrypt {shown}` (or each value with `ansible-vault encrypt_string`)",
                )
            )
    return problems


@dataclass
class Island:
    """One island's data, as the validator sees it."""

    inventory: Path
    # Merged variables of the ``all`` group (shared defaults, then island).
    variables: dict[str, Any]
    # host -> its own variables (host_vars and inline hosts.yml vars).
    hosts: dict[str, dict[str, Any]]
    # group -> hosts.
    groups: dict[str, list[str]]
    # Which file set each top-level variable (for error messages).
    origins: dict[str, str] = field(default_factory=dict)
    # Problems met while reading (YAML syntax, vault...).
    load_errors: list[DataFileError] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inventory.name

    def file_of(self, variable: str) -> str:
        """The file an error about ``variable`` should name."""
        if variable in self.origins:
            return self.origins[variable]
        return display_path(self.inventory / VARIABLE_FILES.get(variable, "group_vars/all"))

    def host_file(self, host: str) -> str:
        return display_path(self.inventory / "host_vars" / f"{host}.yml")

    @property
    def hosts_file(self) -> str:
        return display_path(self.inventory / "hosts.yml")


def _walk_group(name: str, body: Any, groups: dict[str, list[str]], hosts: dict[str, dict]) -> None:
    """Collect hosts and groups from one YAML inventory group, recursively."""
    groups.setdefault(name, [])
    if not isinstance(body, dict):
        return
    for host, host_vars in (body.get("hosts") or {}).items():
        host = str(host)
        hosts.setdefault(host, {}).update(host_vars or {})
        if host not in groups[name]:
            groups[name].append(host)
    for child, child_body in (body.get("children") or {}).items():
        _walk_group(str(child), child_body, groups, hosts)
        for host in groups[str(child)]:
            if host not in groups[name]:
                groups[name].append(host)


def shared_root_for(inventory: Path) -> Path:
    """The repository root whose group_vars/ is shared by every island:
    inventories/<island> -> the directory holding inventories/."""
    return inventory.resolve().parent.parent


def load_island(inventory: Path | str, vault_ids: list[str] | None = None, shared_root: Path | None = None) -> Island:
    """Read an island inventory directory from disk."""
    inventory = Path(inventory)
    shared_root = shared_root_for(inventory) if shared_root is None else shared_root
    island = Island(inventory=inventory, variables=dict(POLICY_DEFAULTS), hosts={}, groups={})

    def read(path: Path) -> Any:
        try:
            return read_yaml(path, vault_ids)
        except DataFileError as error:
            island.load_errors.append(error)
            return None

    # Shared defaults first, the island's own files override them.
    for directory in (shared_root / "group_vars" / "all", inventory / "group_vars" / "all"):
        for path in _var_files(directory):
            content = read(path)
            if content is None:
                continue
            if not isinstance(content, dict):
                island.load_errors.append(
                    DataFileError(display_path(path), f"holds a {type(content).__name__}", "a mapping of variables")
                )
                continue
            for key, value in content.items():
                island.variables[str(key)] = value
                island.origins[str(key)] = display_path(path)

    hosts_path = inventory / "hosts.yml"
    if hosts_path.is_file():
        content = read(hosts_path)
        if isinstance(content, dict):
            for group, body in content.items():
                _walk_group(str(group), body, island.groups, island.hosts)
    else:
        island.load_errors.append(DataFileError(display_path(hosts_path), "does not exist", "the island's hosts.yml"))

    for host in island.hosts:
        for path in _var_files(inventory / "host_vars" / host):
            content = read(path)
            if isinstance(content, dict):
                island.hosts[host].update(content)
    island.load_errors.extend(placement_problems(inventory))
    return island


@dataclass
class Sibling:
    """What the cross-island checks need from another island."""

    name: str
    exchange_file: str
    exchange: Any
    inter_island_file: str
    inter_island_links: Any
    members_file: str = ""
    members: Any = None


def island_directories(inventories: Path) -> list[Path]:
    """Every island inventory under ``inventories/`` (the template is not one)."""
    if not inventories.is_dir():
        return []
    return sorted(
        path
        for path in inventories.iterdir()
        if path.name != TEMPLATE_DIR_NAME and (path / "group_vars" / "all" / "exchange.yml").is_file()
    )


def load_siblings(inventory: Path) -> dict[str, Sibling]:
    """The other islands beside ``inventory``, read from their files.

    Unreadable sibling files are skipped here: that island's own
    validation reports them."""
    siblings: dict[str, Sibling] = {}
    me = inventory.resolve()
    for directory in island_directories(inventory.resolve().parent):
        if directory.resolve() == me:
            continue
        exchange_path = directory / "group_vars" / "all" / "exchange.yml"
        links_path = directory / "group_vars" / "all" / "inter_island.yml"
        try:
            exchange = (read_yaml(exchange_path) or {}).get("exchange")
        except (DataFileError, AttributeError):
            exchange = None
        try:
            links = (read_yaml(links_path) or {}).get("inter_island_links") if links_path.is_file() else []
        except (DataFileError, AttributeError):
            links = None
        members_path = directory / "group_vars" / "all" / "members.yml"
        try:
            members = (read_yaml(members_path) or {}).get("members")
        except (DataFileError, AttributeError):
            members = None
        siblings[directory.name] = Sibling(
            name=directory.name,
            exchange_file=display_path(exchange_path),
            exchange=exchange,
            inter_island_file=display_path(links_path),
            inter_island_links=links,
            members_file=display_path(members_path),
            members=members,
        )
    return siblings
