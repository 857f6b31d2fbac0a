"""`python -m integrations_sandbox up|down|status|env`.

up       start S3, Snowflake and the SaaS emulator in the background; write .sandbox/sandbox.env
         (--s3-port, --snowflake-port, --saas-port; a port in use is named with what holds it)
down     stop them, also when a killed caller left them running without their sandbox.json
status   say whether they run and where
env      print the environment file (load it with `set -a; . .sandbox/sandbox.env; set +a`)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from integrations_sandbox import runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrations_sandbox")
    parser.add_argument("--data-dir", type=Path, default=Path(".sandbox"))
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("up", help="start everything in the background")
    start.add_argument("--seed", type=int, default=0)
    runner.add_port_options(start)
    start.add_argument(
        "--sizes", default="{}", help='records per stream, e.g. {"salesforce/Account": 100000}'
    )
    start.add_argument(
        "--faults", default="{}", help='fault profiles, e.g. {"stripe": {"seed": 7, "rate_429": 0.1}}'
    )
    commands.add_parser("down", help="stop everything")
    commands.add_parser("status", help="report what runs")
    commands.add_parser("env", help="print the environment file")

    stores = commands.add_parser("serve-stores", help="(internal) run moto and fakesnow in the foreground")
    stores.add_argument("--s3-port", type=int, required=True)
    stores.add_argument("--snowflake-port", type=int, required=True)

    saas = commands.add_parser("serve-saas", help="(internal) run the SaaS emulator in the foreground")
    saas.add_argument("--port", type=int, required=True)
    saas.add_argument("--seed", type=int, default=0)
    saas.add_argument("--cert", required=True)
    saas.add_argument("--key", required=True)
    saas.add_argument("--sizes", default="{}")
    saas.add_argument("--faults", default="{}")

    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir

    if args.command == "up":
        try:
            sizes, faults = _sizes(args.sizes), _faults(args.faults)
        except ValueError as error:
            print(f"{parser.prog} up: error: {error}", file=sys.stderr)
            return 2
        ports = runner.chosen_ports(args)
        try:
            info = runner.up(data_dir, ports=ports, seed=args.seed, sizes=sizes, faults=faults)
        except (runner.PortBusyError, ValueError) as error:
            print(f"{parser.prog} up: error: {error}", file=sys.stderr)
            return 2
        print(
            f"sandbox up: S3 {info.s3_url}, Snowflake 127.0.0.1:{info.snowflake_port}, SaaS {info.saas_url}"
        )
        print(f"environment: {data_dir / 'sandbox.env'}")
        return 0
    if args.command == "down":
        print("sandbox stopped" if runner.down(data_dir) else "sandbox was not running")
        return 0
    if args.command == "status":
        running = runner.status(data_dir)
        if running is None:
            print("sandbox: not running")
            return 1
        print(json.dumps({"s3": running.s3_url, "snowflake_port": running.snowflake_port,
                          "saas": running.saas_url, "admin": running.admin_url, "pids": running.pids},
                         indent=2))  # fmt: skip
        return 0
    if args.command == "env":
        sys.stdout.write((data_dir / "sandbox.env").read_text())
        return 0
    if args.command == "serve-stores":
        return _serve_stores(data_dir, args.s3_port, args.snowflake_port)
    return _serve_saas(
        args.port, args.seed, args.cert, args.key, json.loads(args.sizes), json.loads(args.faults)
    )


def _json_object(option: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{option} is not valid JSON ({error}): {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def _sizes(text: str) -> dict[str, int]:
    sizes = _json_object("--sizes", text)
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"--sizes: {name!r} must be a non-negative number of records, got {size!r}")
    return sizes


def _faults(text: str) -> dict[str, dict[str, Any]]:
    from integrations_sandbox.emulator.faults import FaultProfile
    from integrations_sandbox.emulator.systems import SYSTEMS

    faults = _json_object("--faults", text)
    systems = sorted(cls.name for cls in SYSTEMS)
    for system, profile in faults.items():
        if system not in systems:
            raise ValueError(f"--faults: unknown system {system!r}; known: {systems}")
        if not isinstance(profile, dict):
            raise ValueError(f"--faults: {system} must map to a JSON object, got {type(profile).__name__}")
        try:
            FaultProfile.from_json(profile)
        except (TypeError, ValueError) as error:
            raise ValueError(f"--faults: {system}: {error}") from None
    return faults


def _serve_stores(data_dir: Path, s3_port: int, snowflake_port: int) -> int:
    import uvicorn

    from integrations_sandbox import stores

    s3 = stores.start_s3(s3_port)
    try:
        app = stores.snowflake_app(data_dir / "snowflake", f"http://127.0.0.1:{s3_port}")
        uvicorn.run(app, host="127.0.0.1", port=snowflake_port, log_level="warning")
    finally:
        s3.stop()
    return 0


def _serve_saas(
    port: int, seed: int, cert: str, key: str, sizes: dict[str, int], faults: dict[str, dict[str, Any]]
) -> int:
    import uvicorn

    from integrations_sandbox.emulator.app import EmulatorState, create_app
    from integrations_sandbox.emulator.faults import FaultProfile
    from integrations_sandbox.emulator.systems import SYSTEMS

    state = EmulatorState(seed=seed, sizes=sizes)
    for system, profile in faults.items():
        state.faults.set_profile(system, FaultProfile.from_json(profile))
    app = create_app(state, SYSTEMS)
    uvicorn.run(app, host="127.0.0.1", port=port, ssl_certfile=cert, ssl_keyfile=key, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
