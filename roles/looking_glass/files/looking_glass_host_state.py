# What the looking-glass role needs to know about a host, asked in one
# remote command (tasks/install.yml runs it with python3 -c): the host's
# Python, whether the venv holds the pinned wheels, nginx's version, and
# the files a rerun would otherwise check one task at a time.
# argv: home birdc ixf_export self_signed_certificate pin...
import glob
import json
import os
import platform
import re
import subprocess
import sys

home, birdc, ixf_export, self_signed, *pins = sys.argv[1:]


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


venv_python = os.path.join(home, "venv", "bin", "python")
venv_versions = sorted(os.path.basename(p)[len("python"):] for p in glob.glob(os.path.join(home, "venv", "lib", "python*")))
installed = {}
if os.access(venv_python, os.X_OK):
    listing = subprocess.run(
        [venv_python, "-c", "import importlib.metadata as m, json; "
         "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"],
        capture_output=True, text=True, check=False)
    if listing.returncode == 0:
        installed = {canonical(name): version for name, version in json.loads(listing.stdout).items()}
missing = [pin for pin in pins if installed.get(canonical(pin.split("==")[0])) != pin.split("==")[1]]

try:
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr
except OSError:
    nginx = ""
nginx_version = re.findall(r"nginx/([0-9.]+)", nginx)

try:
    with open(ixf_export, encoding="utf-8") as published:
        ixf_published = published.read()
except OSError:
    ixf_published = ""

def link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


def link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


print(json.dumps({
    "python": {"version": "%d.%d" % sys.version_info[:2], "machine": platform.machine()},
    "venv_versions": venv_versions,
    "missing_wheels": missing,
    "nginx_version": nginx_version[0] if nginx_version else "",
    "birdc": os.access(birdc, os.X_OK),
    "ixf_published": ixf_published,
    "self_signed_certificate": os.path.exists(self_signed),
    "nginx_enabled_sites": {name: link_target("/etc/nginx/sites-enabled/" + name)
                            for name in ("caribix-lg.conf", "caribix-lg-backend.conf")},
    "nginx_default_site": os.path.lexists("/etc/nginx/sites-enabled/default"),
    "old_package_zip": os.path.exists(os.path.join(home, "lib", "caribix_lg.zip")),
}))
