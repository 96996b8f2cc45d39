#!/usr/bin/env bash
# The lab: an island deployed into local containers (docs/lab.md).
#   bash scripts/lab.sh up [island]      # containers, cables, site.yml + member routers, health summary
#   bash scripts/lab.sh check [island]   # site.yml --check --diff against the running lab (expect no changes)
#   bash scripts/lab.sh status [island]  # the health summary only
#   bash scripts/lab.sh down [island]    # remove the island's containers and networks
#   bash scripts/lab.sh bench [island]   # timings: first deploy, no-op rerun, member-change rerun
# island: guadeloupe (default), saint-martin, saint-barthelemy.
# CARIBIX_LAB_EXTRA_VARS=file adds extra vars (e.g. members with a newcomer);
# CARIBIX_LAB_PLAYBOOKS="a.yml b.yml" replaces playbooks/site.yml (the lab's
# member routers, lab/member_routers.yml, always run after).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
action=${1:-up}
island=${2:-guadeloupe}
inventory=inventories/$island
[ -d "$inventory" ] || { echo "no island inventory $inventory" >&2; exit 2; }
export ANSIBLE_CONFIG="$repo/ansible.cfg"
log() { printf '[lab] %s\n' "$*" >&2; }
state=build/lab/$island
mkdir -p "$state"
extra_vars=${CARIBIX_LAB_EXTRA_VARS:-}
image=caribix/debian-trixie:lab
underlay=caribix-lab-underlay
underlay_subnet=203.0.113.248/29

lab_containers() { docker ps -aq --filter "label=caribix.lab=$island"; }

down() {
  # Removing a container removes its end of every cable, and the veth pair
  # goes with it: no cable outlives the lab.
  lab_containers | xargs -r docker rm -f >/dev/null
  docker network ls -q --filter "label=caribix.lab=$island" | xargs -r docker network rm >/dev/null
  # The shared underlay goes with the last lab using it.
  if docker network inspect "$underlay" >/dev/null 2>&1 \
      && [ "$(docker network inspect -f '{{len .Containers}}' "$underlay")" = 0 ]; then
    docker network rm "$underlay" >/dev/null
  fi
  log "$island lab removed"
}

if [ "$action" = down ]; then
  down
  exit 0
fi
if [ "$action" = bench ]; then
  # The three timings of docs/lab.md, from a lab that does not exist yet.
  bash "$0" down "$island"
  CARIBIX_LAB_TIMING=first bash "$0" up "$island"
  CARIBIX_LAB_TIMING=noop bash "$0" up "$island"
  .venv/bin/python -m caribix.lab newcomer "$state/inventory.json" "$island" >"$state/newcomer.json"
  CARIBIX_LAB_TIMING=member-change CARIBIX_LAB_EXTRA_VARS="$state/newcomer.json" bash "$0" up "$island"
  .venv/bin/python - "$state/timings.txt" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
last = {row[1]: int(row[2]) for row in rows}
first = last.get("first")
for kind in ("first", "noop", "member-change"):
    if kind in last:
        ratio = f" ({last[kind] / first:.0%} of the first deploy)" if first and kind != "first" else ""
        print(f"[lab] {kind}: {last[kind]} s{ratio}")
PY
  exit 0
fi

bash scripts/bootstrap.sh
# shellcheck disable=SC1091
source .venv/bin/activate
# shellcheck source=scripts/clock.sh
source scripts/clock.sh

islands=$(find inventories -mindepth 3 -maxdepth 4 -path '*/group_vars/all/exchange.yml' | cut -d/ -f2 | grep -v '^template$' | sort | paste -sd,)
ansible-inventory -i "$inventory" --list >"$state/inventory.json"
lab_py() { python -m caribix.lab "$1" "$state/inventory.json" "$island" --islands "$islands" ${extra_vars:+--extra-vars "$extra_vars"} "${@:2}"; }
lab_py plan >"$state/plan.json"
plan() { jq -r "$1" "$state/plan.json"; }
network=$(plan .network)

start_container() { # name hostname extra-docker-args...
  local name=$1 hostname=$2
  shift 2
  if docker container inspect "$name" >/dev/null 2>&1; then
    [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || docker start "$name" >/dev/null
    return 0
  fi
  log "starting $name"
  created=1
  # NET_BROADCAST: BIRD keeps it when it drops to user bird (capset fails
  # without it). IPv6 on: Docker turns it off in a container whose networks have none,
  # and the peering LAN (cabled later) is dual-stack.
  docker run -d --name "$name" --hostname "$hostname" --label "caribix.lab=$island" \
    --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run:rw,exec --tmpfs /run/lock --tmpfs /tmp:rw,exec \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_BROADCAST \
    --sysctl net.ipv6.conf.all.disable_ipv6=0 --sysctl net.ipv6.conf.default.disable_ipv6=0 \
    --network "$network" "$@" "$image" >/dev/null
}

created=0
hosts_created=0
if [ "$action" = up ]; then
  if ! docker network inspect "$network" >/dev/null 2>&1; then
    docker network create --label "caribix.lab=$island" --subnet "$(plan .subnet)" \
      --ip-range "$(plan .ip_range)" "$network" >/dev/null
  fi
  if ! docker network inspect "$underlay" >/dev/null 2>&1; then
    # Room for the 50-byte VXLAN header under a 1500-byte peering LAN.
    docker network create --label caribix.lab=underlay --subnet "$underlay_subnet" \
      -o com.docker.network.driver.mtu=1600 "$underlay" >/dev/null
  fi
  while read -r container host address; do
    start_container "$container" "$host" --ip "$address"
  done < <(plan '.hosts[] | "\(.container) \(.name) \(.management_ipv4)"')
  while read -r container address; do
    if ! docker inspect -f '{{json .NetworkSettings.Networks}}' "$container" | grep -q "\"$underlay\""; then
      docker network connect --ip "$address" "$underlay" "$container"
    fi
  done < <(plan '.hosts[] | select(.underlay_ipv4) | "\(.container) \(.underlay_ipv4)"')
  # A new member's router alone does not make a first deploy.
  hosts_created=$created
  while read -r container; do
    start_container "$container" "$container" --label caribix.lab.member=true
  done < <(plan '.members[].container')
  # A member no longer in the data loses its router (and with it its cable).
  for container in $(docker ps -a --filter "label=caribix.lab=$island" --filter label=caribix.lab.member --format '{{.Names}}'); do
    if ! plan '.members[].container' | grep -qx "$container"; then
      log "removing $container: no longer a member"
      docker rm -f "$container" >/dev/null
    fi
  done
  lab_py cable | sed 's/^/[lab] cable: /' >&2
fi

playbook_args=(-i lab/inventory.yml -i "$inventory" -e "@$state/overlay.json")
[ -n "$extra_vars" ] && playbook_args+=(-e "@$extra_vars")
# Every island's switch's tunnel endpoint on the lab underlay (lab only).
lab_py overlay >"$state/overlay.json"
check_args=()
[ "$action" = check ] && check_args=(--check --diff)

if [ "$action" = up ] || [ "$action" = check ]; then
  start=$SECONDS
  # shellcheck disable=SC2086
  ansible-playbook "${playbook_args[@]}" "${check_args[@]}" ${CARIBIX_LAB_PLAYBOOKS:-playbooks/site.yml} lab/member_routers.yml \
    | tee "$state/last-run.log"
  took=$((SECONDS - start))
  # Several playbooks print a recap each, with running totals: the last counts.
  recap=$(awk '/PLAY RECAP/ {s = 0; on = 1; next} on && match($0, /changed=[0-9]+/) {s += substr($0, RSTART + 8, RLENGTH - 8)}
    on && /^$/ {on = 0} END {print s + 0}' "$state/last-run.log")
  kind=rerun
  [ "$hosts_created" = 1 ] && kind=first
  [ "$action" = check ] && kind=check
  kind=${CARIBIX_LAB_TIMING:-$kind}
  printf '%s %s %s s %s changed\n' "$(date -u +%FT%TZ)" "$kind" "$took" "${recap:-0}" >>"$state/timings.txt"
  log "$action ($kind) took $took s, ${recap:-0} tasks changed"
fi

if [ "$action" = up ] || [ "$action" = status ]; then
  # Sessions need a few seconds after a deploy; wait up to a minute
  # (not when only some parts were deployed: they may never come up).
  [ -n "${CARIBIX_LAB_PLAYBOOKS:-}" ] && [ "$action" = up ] && waits=0 || waits=12
  for _ in $(seq 1 "$waits"); do
    lab_py health >/dev/null 2>&1 && break
    sleep 5
  done
  healthy=0
  lab_py health || healthy=$?
  printf '  timings: %s\n' "$(tail -n 3 "$state/timings.txt" 2>/dev/null | paste -sd';' || echo none)"
  # A lab without its route servers' sessions up is not a working lab
  # (unless this run deployed only some parts: CARIBIX_LAB_PLAYBOOKS).
  if [ "$healthy" != 0 ] && [ -z "${CARIBIX_LAB_PLAYBOOKS:-}" ]; then
    log "the $island lab is not healthy (above)"
    exit 1
  fi
fi
