"""Parse and run route-server configs with the route servers' own BIRD.

The route servers run Debian 13's BIRD (caribix.routeserver.BIRD_HOST_VERSION);
the controller's is Debian 12's 2.0.12, which neither parses the 2.16
target's syntax nor measures what the route servers do. Controller-side
checks (unit tests, benchmarks) therefore run BIRD in a container of the
managed hosts' image with Debian 13's bird2 added (built once, then cached
by Docker):

    from caribix import birdcheck
    seconds, proc = birdcheck.parse(Path("bird.conf"))

Files are mounted at their own paths (read-only), so absolute includes
keep working. The container has no network.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

from caribix.routeserver import BIRD_HOST_VERSION

BASE_IMAGE = "caribix/debian-trixie:lab"
IMAGE = f"caribix/bird-check:{BIRD_HOST_VERSION}"
_DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends bird2 && rm -rf /var/lib/apt/lists/*
"""


class BirdCheckError(Exception):
    """No Docker, no base image, or a BIRD other than the route servers'."""


def _docker(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=timeout, **kwargs)
    except FileNotFoundError as exc:
        raise BirdCheckError("docker is not installed: the route servers' BIRD runs in a container") from exc


def ensure_image() -> str:
    """Build the image once (Docker caches it); check its BIRD version."""
    if _docker("image", "inspect", IMAGE).returncode != 0:
        if _docker("image", "inspect", BASE_IMAGE).returncode != 0:
            raise BirdCheckError(f"{BASE_IMAGE} is missing: build it with images/base/build.sh")
        proc = _docker("build", "-q", "-t", IMAGE, "-", input=_DOCKERFILE)
        if proc.returncode != 0:
            raise BirdCheckError(f"building {IMAGE} failed:\n{proc.stderr.strip()}")
    version = _docker("run", "--rm", "--network", "none", IMAGE, "bird", "--version")
    found = (version.stdout + version.stderr).split()[-1:]
    if found != [BIRD_HOST_VERSION]:
        raise BirdCheckError(f"{IMAGE} runs BIRD {found}, the route servers {BIRD_HOST_VERSION}: remove the image to rebuild it")
    return IMAGE


def _mounts(paths: list[Path]) -> list[str]:
    args = []
    for directory in sorted({str(p.resolve() if p.is_dir() else p.resolve().parent) for p in paths}):
        args += ["-v", f"{directory}:{directory}:ro"]
    return args


# `bird -p` timed inside the container (the container's start is not
# BIRD's): wall time, and CPU time (user + system, from the shell's
# `times`), which a loaded shared machine does not inflate.
_TIMED = (
    's=$(date +%s%N); bird -p -c "$1"; rc=$?; e=$(date +%s%N); '
    'echo "caribix-parse-ns $((e - s))" >&2; { echo caribix-parse-times; times; } >&2; exit $rc'
)
# Set by the last parse: CPU seconds of `bird -p`.
last_parse_cpu_s = float("nan")


def _minutes_seconds(text: str) -> float:
    minutes, seconds = re.fullmatch(r"(\d+)m([\d.]+)s", text).groups()
    return int(minutes) * 60 + float(seconds)


def _split_timing(proc: subprocess.CompletedProcess) -> tuple[float, subprocess.CompletedProcess]:
    global last_parse_cpu_s
    match = re.search(r"^caribix-parse-ns (\d+)$", proc.stderr, re.M)
    # `times`: the shell's user/system line, then its children's (bird -p).
    times = re.search(r"^caribix-parse-times\n\S+ \S+\n(\S+) (\S+)$", proc.stderr, re.M)
    last_parse_cpu_s = _minutes_seconds(times.group(1)) + _minutes_seconds(times.group(2)) if times else float("nan")
    proc.stderr = re.sub(r"^caribix-parse-ns .*\n|^caribix-parse-times\n.*\n.*(\n|$)", "", proc.stderr, flags=re.M)
    return (int(match.group(1)) / 1e9 if match else float("nan")), proc


def parse(config: Path, extra_paths: list[Path] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """``bird -p -c config`` with the route servers' BIRD: (seconds, process)."""
    image = ensure_image()
    config = config.resolve()
    proc = _docker(
        "run", "--rm", "--network", "none", *_mounts([config, *(extra_paths or [])]),
        image, "sh", "-c", _TIMED, "sh", str(config),
    )
    return _split_timing(proc)


class BirdDaemon:
    """A BIRD of the route servers' version, running in a container.

    For load timings and memory (benchmarks): ``configure(path)`` makes it
    load a config file from a mounted directory, as the role does with
    ``birdc configure "<candidate>"``.
    """

    def __init__(self, workdir: Path):
        self.workdir = workdir.resolve()
        self.name = f"caribix-bird-check-{uuid.uuid4().hex[:8]}"
        empty = self.workdir / "empty.conf"
        empty.write_text("router id 192.0.2.250;\nprotocol device {}\n")
        proc = _docker(
            "run", "-d", "--rm", "--name", self.name, "--network", "none",
            "-v", f"{self.workdir}:{self.workdir}", ensure_image(),
            "bird", "-f", "-c", str(empty), "-s", "/run/bird.ctl",
        )
        if proc.returncode != 0:
            raise BirdCheckError(f"starting BIRD failed: {proc.stderr.strip()}")
        for _ in range(100):
            if "ready" in self.birdc("show", "status"):
                break
            time.sleep(0.1)

    def exec(self, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
        return _docker("exec", self.name, *args, timeout=timeout)

    def birdc(self, *args: str, timeout: float = 3600) -> str:
        return self.exec("birdc", "-s", "/run/bird.ctl", *args, timeout=timeout).stdout

    def parse(self, config: Path) -> tuple[float, subprocess.CompletedProcess]:
        return _split_timing(self.exec("sh", "-c", _TIMED, "sh", str(config.resolve())))

    def configure(self, config: Path) -> tuple[float, str]:
        start = time.monotonic()
        out = self.birdc("configure", f'"{config.resolve()}"')
        # "Reconfiguration in progress": wait until BIRD answers again.
        while "in progress" in out and "Reconfigured" not in out:
            time.sleep(0.2)
            if "ready" in self.birdc("show", "status"):
                break
        return time.monotonic() - start, out

    def cpu_s(self) -> float:
        """CPU seconds BIRD has used so far (utime + stime of PID 1)."""
        fields = self.exec("cat", "/proc/1/stat").stdout.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100  # clock ticks (USER_HZ)

    def memory(self) -> tuple[str, int]:
        """BIRD's own total (``show memory``) and its RSS in KiB."""
        total = re.search(r"Total:\s+(\S+\s*\S*)", self.birdc("show", "memory"))
        status = self.exec("cat", "/proc/1/status").stdout
        rss = re.search(r"VmRSS:\s+(\d+) kB", status)
        return (total.group(1).strip() if total else "?"), (int(rss.group(1)) if rss else 0)

    def stop(self) -> None:
        _docker("rm", "-f", self.name, timeout=60)
