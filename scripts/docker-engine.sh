#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's
# docker.io if it is missing, start dockerd if nothing answers, wait for it.
# Safe to call any number of times.
set -euo pipefail

log() { printf '[docker-engine] %s\n' "$*" >&2; }

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

# Every systemd container holds a few inotify instances; the kernel's
# default of 128 per user runs out at about 20 containers (an island lab,
# or two) and systemd then exits at once with status 255. Raise it, never
# lower it.
if [ "$(sysctl -n fs.inotify.max_user_instances)" -lt 1024 ]; then
  sysctl -qw fs.inotify.max_user_instances=1024
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

# A fresh machine (or a CI runner) has no init managing dockerd: start it
# ourselves, detached, logging to a file we can show when it fails.
log_file=/var/log/caribix-dockerd.log
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1; then
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: $log_file)"
    rm -f /var/run/docker.pid
    nohup setsid dockerd >"$log_file" 2>&1 </dev/null &
  fi
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "docker engine answers"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of $log_file:"
tail -n 20 "$log_file" >&2 || true
exit 1
