# What the island's supply check (tasks/island_supplies.yml) asks a host,
# in one remote command each (python3 -c this file, one JSON argument).
# Standard library only; reads, never writes (a temporary status file for
# apt aside).
#   {"ask": "upstream", "offline_file": path, "serves": [address, port]}
#                         on the package cache: do the mirrors in its apt
#                         sources answer (TCP, a few seconds)? Is it in
#                         offline mode (the file exists)? Does the cache
#                         itself answer?
#   {"ask": "host", "needs": [...]}
#                         on a host to deploy: its Python, and which of the
#                         packages the deploy installs dpkg does not list
#                         (with dpkg's status when any is missing, for the
#                         cache's answer below).
#   {"ask": "holds", "cache_dir": ...}, stdin {host: {missing, status}}
#                         on the package cache: which .deb files apt would
#                         fetch for each host (with that host's dpkg status
#                         and the cache's own package lists) the cache
#                         does not hold, and which packages the lists lack.
import glob
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse


def mirrors():
    """The http(s) mirrors (host, port) of this host's apt sources."""
    found = set()
    texts = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")
                                                  + glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            with open(path, encoding="utf-8") as handle:
                texts.append(handle.read())
        except OSError:
            continue
    for text in texts:
        for uri in re.findall(r"(?im)^\s*(?:deb(?:-src)?\s+(?:\[[^]]*\]\s+)?|URIs:\s*)(\S+)", text):
            parsed = urllib.parse.urlsplit(uri)
            if parsed.scheme in ("http", "https") and parsed.hostname:
                found.add((parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)))
    return sorted(found)


def answers(mirror, timeout=4.0):
    try:
        with socket.create_connection(mirror, timeout=timeout):
            return True
    except OSError:
        return False


def upstream(offline_file, serves, deadline=6.0):
    """Each mirror asked at once; one that has not answered by the deadline
    (a name lookup with no DNS server can take longer) counts as cut off."""
    listed = mirrors()
    answered = {}
    threads = [threading.Thread(target=lambda m=mirror: answered.update({m: answers(m)}), daemon=True)
               for mirror in listed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(deadline)
    reached = [f"{host}:{port}" for host, port in listed if answered.get((host, port))]
    return {"mirrors": [f"{host}:{port}" for host, port in listed], "reachable": reached,
            "offline": os.path.exists(offline_file), "serving": answers(tuple(serves), timeout=2.0)}


def installed(status_text):
    """Package names dpkg's status lists as installed."""
    names = set()
    for stanza in status_text.split("\n\n"):
        package = re.search(r"(?m)^Package: (\S+)", stanza)
        state = re.search(r"(?m)^Status: (.*)$", stanza)
        if package and state and state.group(1).strip().endswith(" installed"):
            names.add(package.group(1))
    return names


def host(needs):
    with open("/var/lib/dpkg/status", encoding="utf-8") as handle:
        status = handle.read()
    missing = sorted(set(needs) - installed(status))
    return {"python": "%d.%d" % sys.version_info[:2], "machine": platform.machine(),
            "missing": missing, "status": status if missing else ""}


def held_files(cache_dir):
    """Every .deb the cache holds, by file name, with its size."""
    held = {}
    for root, _dirs, files in os.walk(cache_dir):
        for name in files:
            if name.endswith(".deb"):
                held[name] = os.path.getsize(os.path.join(root, name))
    return held


def fetches(missing, status):
    """(files apt would fetch [(package, file, size)], packages apt does not know)."""
    with tempfile.NamedTemporaryFile("w", suffix=".status", encoding="utf-8") as handle:
        handle.write(status)
        handle.flush()
        base = ["apt-get", "install", "--print-uris", "-qq", "-o", f"Dir::State::status={handle.name}",
                "-o", "Debug::NoLocking=1", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
                "-o", "APT::Install-Recommends=false"]
        # apt-get names only the first package it does not know: apt-cache
        # is asked about each.
        unknown = [name for name in missing if subprocess.run(
            ["apt-cache", "-q", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
             "show", "--no-all-versions", name], capture_output=True, text=True, check=False).returncode != 0]
        wanted = [name for name in missing if name not in unknown]
        if not wanted:
            return [], unknown
        done = subprocess.run(base + wanted, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"apt-get --print-uris {' '.join(wanted)} failed: {done.stderr.strip()}")
    files = []
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith("'"):
            name = urllib.parse.unquote(parts[0].strip("'").rsplit("/", 1)[-1])
            files.append((name.split("_", 1)[0], name, int(parts[2])))
    return files, unknown


def holds(cache_dir, hosts):
    held = held_files(cache_dir) if os.path.isdir(cache_dir) else {}
    report = {}
    for name, asked in sorted(hosts.items()):
        files, unknown = fetches(asked["missing"], asked["status"])
        report[name] = {
            "fetches": len(files),
            "not_held": [{"package": package, "file": file}
                         for package, file, size in files if held.get(file) != size],
            "unknown": unknown,
        }
    return report


def main():
    asked = json.loads(sys.argv[1])
    if asked["ask"] == "upstream":
        answer = upstream(asked["offline_file"], asked["serves"])
    elif asked["ask"] == "host":
        answer = host(asked["needs"])
    else:
        # The hosts' status files are large: holds reads them from stdin.
        answer = holds(asked["cache_dir"], json.load(sys.stdin))
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
