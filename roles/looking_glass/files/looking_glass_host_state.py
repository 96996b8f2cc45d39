# What the looking-glass role needs to know about a host, asked in one
# remote command (tasks/install.yml runs it with python3 -c): the host's
# Python, the pinned wheels the venv lacks, nginx's version, the service
# user, and the files a rerun would otherwise check one task at a time.
# argv[1]: JSON {home, birdc, ixf_export, self_signed_certificate, pins,
# user, key}. Standard library only; reads, never writes.
import glob
import grp
import hashlib
import json
import os
import platform
import pwd
import re
import stat
import subprocess
import sys


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_wheels(home, pins):
    """The pins (name==version) the venv does not hold."""
    venv_python = os.path.join(home, "venv", "bin", "python")
    installed = {}
    if os.access(venv_python, os.X_OK):
        listing = subprocess.run(
            [venv_python, "-c", "import importlib.metadata as m, json; "
             "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"],
            capture_output=True, text=True, check=False)
        if listing.returncode == 0:
            installed = {canonical(name): version for name, version in json.loads(listing.stdout).items()}
    return [pin for pin in pins if installed.get(canonical(pin.split("==")[0])) != pin.split("==")[1]]


def nginx_version():
    try:
        answer = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr
    except OSError:
        return ""
    found = re.findall(r"nginx/([0-9.]+)", answer)
    return found[0] if found else ""


def text_of(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def account(name):
    """The service user as the user module would set it, or None."""
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        return None
    return {"home": user.pw_dir, "shell": user.pw_shell, "group": grp.getgrgid(user.pw_gid).gr_name,
            "groups": sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem)}


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def file_state(path):
    """A secret file's digest and attributes (never its content), or None."""
    try:
        info = os.stat(path)
        with open(path, "rb") as secret:
            digest = hashlib.sha256(secret.read()).hexdigest()
    except OSError:
        return None
    return {"sha256": digest, "owner": pwd.getpwuid(info.st_uid).pw_name, "group": grp.getgrgid(info.st_gid).gr_name,
            "mode": "%04o" % stat.S_IMODE(info.st_mode)}


def link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


asked = json.loads(sys.argv[1])
home = asked["home"]
print(json.dumps({
    "python": {"version": "%d.%d" % sys.version_info[:2], "machine": platform.machine()},
    "venv_versions": sorted(os.path.basename(p)[len("python"):] for p in glob.glob(os.path.join(home, "venv", "lib", "python*"))),
    "missing_wheels": missing_wheels(home, asked["pins"]),
    "nginx_version": nginx_version(),
    "birdc": os.access(asked["birdc"], os.X_OK),
    "user": account(asked["user"]),
    "group_exists": group_exists(asked["user"]),
    "key": file_state(asked["key"]),
    "ixf_published": text_of(asked["ixf_export"]),
    "self_signed_certificate": os.path.exists(asked["self_signed_certificate"]),
    "nginx_enabled_sites": {name: link_target("/etc/nginx/sites-enabled/" + name)
                            for name in ("caribix-lg.conf", "caribix-lg-backend.conf")},
    "nginx_default_site": os.path.lexists("/etc/nginx/sites-enabled/default"),
    "old_package_zip": os.path.exists(os.path.join(home, "lib", "caribix_lg.zip")),
}))
