#!/usr/bin/env bash
# The lab: an island deployed into local containers (docs/lab.md).
#   bash scripts/lab.sh up [island]      # containers, cables, site.yml + member routers, health summary
#   bash scripts/lab.sh check [island]   # site.yml --check --diff against the running lab (expect no changes)
#   bash scripts/lab.sh status [island]  # the health summary only
#   bash scripts/lab.sh down [island]    # remove the island's containers and networks
#   bash scripts/lab.sh member [island]  # a member change: playbooks/members.yml + member routers, timed
#                                        # until every member's sessions are Established (docs/performance.md)
#   bash scripts/lab.sh bench [island]   # timings: first deploy, no-op rerun, member change (and ratios)
# island: guadeloupe (default), saint-martin, saint-barthelemy.
# CARIBIX_LAB_EXTRA_VARS=file adds extra vars (e.g. members with a newcomer);
# CARIBIX_LAB_PLAYBOOKS="a.yml b.yml" replaces playbooks/site.yml (the lab's
# member routers, lab/member_routers.yml, always run after);
# CARIBIX_LAB_LIMIT="peering_switches:lab_member_routers" runs them on those
# hosts only (Ansible's --limit; the other containers still exist).
# CARIBIX_MITOGEN=1 runs Ansible with mitogen (optional, docs/performance.md);
# CARIBIX_LAB_PROFILE=1 adds the per-task and per-role profile to each run.
set -euo pipefail
# A member change is timed from here: the edited inventory.
started=$SECONDS

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
action=${1:-up}
island=${2:-guadeloupe}
inventory=inventories/$island
# `down` needs only the labels: it also clears the lab of an island whose
# inventory is gone.
[ -d "$inventory" ] || [ "$action" = down ] || { echo "no island inventory $inventory" >&2; exit 2; }
export ANSIBLE_CONFIG="$repo/ansible.cfg"
# The example islands' secrets are encrypted with the lab vault id; a
# production site's vault id comes from the engineer, never from here.
export ANSIBLE_VAULT_IDENTITY_LIST="lab@$repo/inventories/lab-vault-password.txt"
log() { printf '[lab] %s\n' "$*" >&2; }
state=build/lab/$island
mkdir -p "$state"
# The lab's SSH: one deploy key for every lab (made once), and the island's
# hosts' own host keys, recorded when their containers are provisioned.
ssh_dir=$repo/build/lab/ssh
known_hosts=$repo/$state/known_hosts
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
# Optional: Ansible with mitogen's strategy (docs/performance.md: measured,
# off by default). Installed on first use, beside the venv, not in it.
if [ "${CARIBIX_MITOGEN:-0}" = 1 ]; then
  mitogen_dir=$repo/build/mitogen
  [ -d "$mitogen_dir/ansible_mitogen" ] \
    || .venv/bin/pip install -q --no-deps --target "$mitogen_dir" "mitogen==0.3.54"
  export PYTHONPATH="$mitogen_dir${PYTHONPATH:+:$PYTHONPATH}"
  export ANSIBLE_STRATEGY_PLUGINS="$mitogen_dir/ansible_mitogen/plugins/strategy" ANSIBLE_STRATEGY=mitogen_linear
fi
# CARIBIX_LAB_PROFILE=1: task and role times at the end of each run.
[ "${CARIBIX_LAB_PROFILE:-0}" = 1 ] \
  && export ANSIBLE_CALLBACKS_ENABLED=caribix_connection_hints,ansible.posix.profile_tasks,ansible.posix.profile_roles
if [ "$action" = bench ]; then
  # The timings of docs/performance.md, from a lab that does not exist yet:
  # first deploy, no-op site.yml rerun, a member added and removed again
  # with the member-change command. The machine's load goes with them.
  bash "$0" down "$island"
  load_before=$(uptime)
  CARIBIX_LAB_TIMING=first bash "$0" up "$island"
  CARIBIX_LAB_TIMING=noop bash "$0" up "$island"
  .venv/bin/python -m caribix.lab newcomer "$state/inventory.json" "$island" >"$state/newcomer.json"
  CARIBIX_LAB_TIMING=member-change CARIBIX_LAB_EXTRA_VARS="$state/newcomer.json" bash "$0" member "$island"
  # ...and the newcomer leaves again (the removal, same command).
  CARIBIX_LAB_TIMING=member-removal bash "$0" member "$island"
  printf '[lab] load before: %s\n[lab] load after:  %s\n' "$load_before" "$(uptime)"
  .venv/bin/python - "$state/timings.txt" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
last = {row[1]: (int(row[2]), row[4]) for row in rows}
first = last.get("first", (0, "0"))[0]
for kind in ("first", "noop", "member-change", "member-removal"):
    if kind in last:
        took, changed = last[kind]
        share = f", {took / first:.0%} of the first deploy" if first and kind != "first" else ""
        print(f"[lab] {kind}: {took} s ({changed} changed{share})")
if first and "noop" in last and "member-change" in last:
    noop, member = last["noop"][0], last["member-change"][0]
    print(f"[lab] no-op / first deploy: {noop / first:.0%} (goal <= 25 %); "
          f"member change / 30 s goal: {member / 30:.0%}")
PY
  exit 0
fi
# A member change: only what derives from the members (playbooks/members.yml),
# on a lab site.yml has deployed; timed until every session is Established.
member_change=0
if [ "$action" = member ]; then
  member_change=1
  action=up
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

start_container() { # name hostname [--image image] extra-docker-args...
  local name=$1 hostname=$2 from=$image
  shift 2
  if [ "${1:-}" = --image ]; then
    from=$2
    shift 2
  fi
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
    --network "$network" "$@" "$from" >/dev/null
}

# The members' routers start from the base image with their routing
# daemon installed: a member brings a running router to the exchange, so
# the lab's newcomer does not install BIRD during the member change
# (lab_member_router still checks the packages). Built once per base image.
member_router_image() {
  local base_id tag builder
  base_id=$(docker image inspect -f '{{.Id}}' "$image" | cut -d: -f2 | cut -c1-12)
  tag=caribix/lab-member-router:$base_id
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    log "building $tag (the base image with bird2 and iproute2)"
    builder=caribix-lab-member-router-build-$$
    docker rm -f "$builder" >/dev/null 2>&1 || true
    docker run --name "$builder" "$image" sh -c \
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bird2 iproute2 python3 >/dev/null && apt-get clean' >&2
    docker commit --change 'CMD ["/lib/systemd/systemd"]' "$builder" "$tag" >/dev/null
    docker rm -f "$builder" >/dev/null
  fi
  printf '%s\n' "$tag"
}

# What a server's installer leaves behind, done to a fresh container: sshd
# with the host's own keys, the deploy user (not root) with our key and
# passwordless sudo. Prints the host's ed25519 public key.
provision_ssh() { # container deploy-user deploy-public-key
  docker exec -i "$1" sh -s "$2" "$3" <<'SH'
set -eu
user=$1 key=$2
for _ in $(seq 1 60); do
  case $(systemctl is-system-running 2>/dev/null) in running|degraded) break ;; esac
  sleep 1
done
if ! command -v sshd >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends openssh-server >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; }
fi
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
printf '%s\n' "$key" >"$home/.ssh/authorized_keys"
chown "$user:$user" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$user" >"/etc/sudoers.d/$user"
chmod 0440 "/etc/sudoers.d/$user"
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A >/dev/null
systemctl enable ssh >/dev/null 2>&1 || true
systemctl start ssh
cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub
SH
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
  member_image=$(member_router_image)
  if [ ! -s "$ssh_dir/id_ed25519" ]; then
    mkdir -p "$ssh_dir"
    ssh-keygen -q -t ed25519 -N '' -C "caribix-lab-deploy" -f "$ssh_dir/id_ed25519"
  fi
  deploy_user=$(jq -r '[._meta.hostvars[] | .caribix_deploy_user // empty][0] // "caribix-deploy"' "$state/inventory.json")
  # A member change on a lab whose hosts all existed keeps their SSH as
  # `up` left it (a rerun of `up` repairs it).
  if [ "$member_change" = 0 ] || [ "$hosts_created" = 1 ] || [ ! -s "$known_hosts" ]; then
    : >"$known_hosts.new"
    while read -r container address; do
      host_key=$(provision_ssh "$container" "$deploy_user" "$(cat "$ssh_dir/id_ed25519.pub")" </dev/null)
      printf '%s %s\n' "$address" "$host_key" >>"$known_hosts.new"
    done < <(plan '.hosts[] | "\(.container) \(.management_ipv4)"')
    mv "$known_hosts.new" "$known_hosts"
  fi
  while read -r container; do
    start_container "$container" "$container" --image "$member_image" --label caribix.lab.member=true
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

# The lab's connection: the production SSH path (the island's hosts.yml,
# group_vars/all/connection.yml) with the lab's known_hosts file and deploy
# key, as extra vars (lab/README.md: harmless for the controller's own
# local connection and the member routers' Docker one).
jq -n --arg known_hosts "$known_hosts" --arg key "$ssh_dir/id_ed25519" \
  '{caribix_ssh_known_hosts_file: $known_hosts, ansible_ssh_private_key_file: $key}' >"$state/connection.json"
playbook_args=(-i "$inventory" -e "@$state/overlay.json" -e "@$state/connection.json")
[ -n "$extra_vars" ] && playbook_args+=(-e "@$extra_vars")
[ -n "${CARIBIX_LAB_LIMIT:-}" ] && playbook_args+=(--limit "$CARIBIX_LAB_LIMIT")
# Every island's switch's tunnel endpoint on the lab underlay (lab only).
lab_py overlay >"$state/overlay.json"
check_args=()
[ "$action" = check ] && check_args=(--check --diff)

if [ "$action" = up ] || [ "$action" = check ]; then
  start=$SECONDS
  playbooks=${CARIBIX_LAB_PLAYBOOKS:-playbooks/site.yml}
  routers=lab/member_routers.yml
  if [ "$member_change" = 1 ]; then
    playbooks=playbooks/members.yml
    # A member change reconfigures the routers (the members' side, not
    # CaribIX's) whose member data changed since they were configured:
    # build/lab/<island>/routers.json holds what each was configured from.
    changed_routers=$(jq -c --slurpfile done "$state/routers.json" \
      '[.members[] | select(.router_fingerprint != ($done[0][.container] // "")) | .asn]' "$state/plan.json" 2>/dev/null \
      || plan '[.members[].asn]')
    if [ "$changed_routers" = "[]" ]; then
      routers=
    else
      playbook_args+=(-e "{\"lab_member_routers_only\": $changed_routers}")
    fi
  fi
  if [ "$member_change" = 1 ] && [ -n "$routers" ]; then
    # The member configures its own router while CaribIX deploys (as a
    # real member would): the routers' run goes beside members.yml.
    ansible-playbook "${playbook_args[@]}" "$routers" >"$state/routers-run.log" 2>&1 &
    routers_pid=$!
    routers=
  fi
  # shellcheck disable=SC2086
  ansible-playbook "${playbook_args[@]}" "${check_args[@]}" $playbooks $routers \
    | tee "$state/last-run.log"
  if [ -n "${routers_pid:-}" ]; then
    wait "$routers_pid" || { cat "$state/routers-run.log"; log "the member routers' run failed (above)"; exit 1; }
  fi
  # Every router is now configured from the current data (not after a
  # check, nor when --limit may have left some out).
  if [ "$action" = up ] && [ -z "${CARIBIX_LAB_LIMIT:-}" ]; then
    jq '[.members[] | {key: .container, value: .router_fingerprint}] | from_entries' "$state/plan.json" >"$state/routers.json"
  fi
  took=$((SECONDS - start))
  # Several playbooks print a recap each, with running totals: the last
  # of each ansible-playbook run counts.
  recap_of() {
    awk '/PLAY RECAP/ {s = 0; on = 1; next} on && match($0, /changed=[0-9]+/) {s += substr($0, RSTART + 8, RLENGTH - 8)}
      on && /^$/ {on = 0} END {print s + 0}' "$1"
  }
  recap=$(recap_of "$state/last-run.log")
  [ -n "${routers_pid:-}" ] && recap=$((recap + $(recap_of "$state/routers-run.log")))
  kind=rerun
  [ "$hosts_created" = 1 ] && kind=first
  [ "$action" = check ] && kind=check
  if [ "$member_change" = 1 ]; then
    # From the edited inventory to every member's sessions Established on
    # every route server (polled each second, at most two minutes).
    kind=member-change
    for _ in $(seq 1 120); do
      lab_py health >/dev/null 2>&1 && break
      sleep 1
    done
    took=$((SECONDS - started))
  fi
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
