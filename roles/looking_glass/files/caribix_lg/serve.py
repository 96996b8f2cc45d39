"""Run the backend or the front end under waitress (a production WSGI server).

    python -m caribix_lg.serve backend --config /etc/caribix-lg/backend.json
    python -m caribix_lg.serve frontend --config /etc/caribix-lg/frontend.json

The JSON config is written by the looking_glass Ansible role; ``listen``
and ``trusted_proxy`` are read here, everything else by the app.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return config


def build_app(component: str, config: dict):
    if component == "backend":
        from .backend import make_app
    else:
        from .frontend import make_app
    return make_app(config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="caribix-lg", description=__doc__.splitlines()[0]
    )
    parser.add_argument("component", choices=("backend", "frontend"))
    parser.add_argument("--config", required=True)
    parser.add_argument(
        "--check",
        action="store_true",
        help="load the config and build the app, then exit",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        app = build_app(args.component, config)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(
            f"caribix-lg {args.component}: invalid configuration {args.config}: {error}",
            file=sys.stderr,
        )
        return 2
    if args.check:
        print(f"caribix-lg {args.component}: configuration {args.config} is valid")
        return 0
    import waitress

    listen = config.get("listen", ["127.0.0.1:8080"])
    options = {
        "threads": config.get("threads", 8),
        "ident": "caribix-lg",
        "channel_timeout": 30,
        "connection_limit": config.get("connection_limit", 200),
    }
    if config.get("trusted_proxy"):
        # nginx in front: take the client address from X-Forwarded-For.
        options.update(
            trusted_proxy=config["trusted_proxy"],
            trusted_proxy_count=1,
            trusted_proxy_headers={"x-forwarded-for"},
            clear_untrusted_proxy_headers=True,
        )
    waitress.serve(app, listen=" ".join(listen), **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
