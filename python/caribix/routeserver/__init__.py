"""Build a route server's BIRD 2 configuration on the controller, offline.

arouteserver (pinned in requirements.txt) writes the filters; this package
turns one island's data into arouteserver's input and runs it so that
nothing needs the internet:

* ``general.yml`` from the exchange facts, the route server's host_vars and
  the shared policy (``group_vars/all/route_servers.yml``);
* ``clients.yml`` from the members with ``route_server: true``;
* ``bogons.yml``: arouteserver's own list minus exactly the documentation
  ranges the lab announces (lab mode only);
* arouteserver's cache directory, pre-seeded from the island's snapshot
  (``snapshots/<island>/``) so that no IRR or PeeringDB query happens.
  ``bgpq3_path`` points at a program that always fails: a cache miss stops
  the build instead of silently going online.

The output is post-processed: the ``.local`` includes (RTR session,
too-many-communities hook) are inlined so that one self-contained file can
be staged, checked with ``bird -p`` and rolled back; in lab mode the
invalid-ASN list is relaxed for exactly the lab's own ASNs.

The two route servers of an island get the same config but for their
``router id``: with ``--shared-cache DIR`` the first build is kept there
and the second route server's is that config with its own router id
(keyed by everything else that goes into a build: the input, the
snapshot, this code and arouteserver's version), so a member change
builds once, not twice.

Command line (used by roles/route_server)::

    python -m caribix.routeserver build --input input.json --output-dir DIR [--shared-cache DIR]

Its modules, by job: ``policy`` (defaults, reject-code tables, the build
error), ``snapshot`` (reading and judging the snapshot), ``clients``
(arouteserver's input), ``cache`` (its cache, seeded from the snapshot),
``birdconf`` (what the build changes in and counts from arouteserver's
output), ``builder`` (one build, shared between the two route servers),
``cli``. The names below are the package's interface.
"""


from caribix.routeserver.birdconf import (
    LOCAL_FILES_MARKER,
    count_bgp_protocols,
    count_unique_roas,
    hook_config,
    inline_local_files,
    lab_asns,
    limit_metrics,
    relax_invalid_asns,
    rtr_config,
    strip_build_timestamps,
)
from caribix.routeserver.builder import BuildResult, build, run_arouteserver, shared_build_key, write_inputs
from caribix.routeserver.cache import seed_cache
from caribix.routeserver.cli import main
from caribix.routeserver.clients import bogons_config, clients_config, general_config, is_aut_num, rs_members, secret_file_name
from caribix.routeserver.policy import (
    AROUTESERVER_REJECT_NAMESPACE,
    ASPA_FILE,
    BIRD_HOST_VERSION,
    BIRD_TARGET_VERSION,
    DEFAULT_POLICY,
    EUROIX_REJECT_CODES,
    EUROIX_REJECT_NAMESPACE,
    LIMIT_ACTIONS,
    REJECT_CODE_TOO_MANY_COMMUNITIES,
    RouteServerBuildError,
    policy_with_defaults,
)
from caribix.routeserver.snapshot import (
    EXAMPLE_SOURCE,
    SNAPSHOT_FILES,
    SNAPSHOT_PARTS,
    check_snapshot_age,
    is_example_part,
    load_snapshot,
    parse_timestamp,
    refresh_command,
    snapshot_metrics,
)
