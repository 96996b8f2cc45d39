#!/usr/bin/env bash
# The lab: an island deployed into local containers.
#   bash scripts/lab.sh up [island]      # create the containers, run site.yml, print health
#   bash scripts/lab.sh check [island]   # site.yml --check --diff against the running lab
#   bash scripts/lab.sh down [island]    # remove the island's containers and networks
# island: guadeloupe (default), saint-martin, saint-barthelemy.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
action=${1:-up}
island=${2:-guadeloupe}
inventory=inventories/$island
[ -d "$inventory" ] || { echo "no island inventory $inventory" >&2; exit 2; }
export ANSIBLE_CONFIG="$repo/ansible.cfg"
log() { printf '[lab] %s\n' "$*" >&2; }

lab_containers() { docker ps -aq --filter "label=caribix.lab=$island"; }

down() {
  lab_containers | xargs -r docker rm -f >/dev/null
  docker network ls -q --filter "label=caribix.lab=$island" | xargs -r docker network rm >/dev/null
  log "$island lab removed"
}

if [ "$action" = down ]; then
  down
  exit 0
fi

bash scripts/bootstrap.sh
# shellcheck disable=SC1091
source .venv/bin/activate

# Hosts and their management addresses come from the island inventory.
hosts_json=$(ansible-inventory -i "$inventory" --list)
mgmt_v4=$(jq -r '._meta.hostvars | to_entries[0].value.exchange.management_lan.ipv4' <<<"$hosts_json")
network=caribix-lab-$island-mgmt

if [ "$action" = up ]; then
  if ! docker network inspect "$network" >/dev/null 2>&1; then
    docker network create --label "caribix.lab=$island" --subnet "$mgmt_v4" "$network" >/dev/null
  fi
  for host in $(jq -r '._meta.hostvars | keys[]' <<<"$hosts_json"); do
    address=$(jq -r --arg h "$host" '._meta.hostvars[$h].management_ipv4' <<<"$hosts_json")
    name=caribix-lab-$host
    docker container inspect "$name" >/dev/null 2>&1 && continue
    log "starting $name ($address)"
    docker run -d --name "$name" --hostname "$host" --label "caribix.lab=$island" \
      --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      --tmpfs /run:rw,exec --tmpfs /run/lock --tmpfs /tmp:rw,exec \
      --cap-add SYS_ADMIN --cap-add NET_ADMIN \
      --network "$network" --ip "$address" \
      caribix/debian-bookworm:lab >/dev/null
  done
fi

check_args=()
[ "$action" = check ] && check_args=(--check --diff)
start=$SECONDS
ansible-playbook -i "$inventory" -e @lab/connection.yml playbooks/site.yml "${check_args[@]}"
log "site.yml ($action) took $((SECONDS - start)) s"

printf '\n%s lab: %s\n' "$island" "$(lab_containers | wc -l) containers"
docker ps --filter "label=caribix.lab=$island" --format '  {{.Names}}\t{{.Status}}'
