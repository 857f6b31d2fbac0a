"""`make ui`: the Airflow UI on the sandbox, to watch the DAGs and the Dead letters page.

Starts the sandbox under `.sandbox/` (keeping what `make demo` left there), then `airflow standalone`
with the sandbox's connections, this repository's `dags/` and the demo's DLQ. Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from integrations_sandbox import runner

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = Path(".sandbox").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make ui", description="The Airflow UI on the sandbox.")
    runner.add_port_options(parser)
    args = parser.parse_args(argv)
    ports = runner.chosen_ports(args)
    try:
        info = runner.up(SANDBOX, ports=ports)
    except (runner.PortBusyError, ValueError) as error:
        print(f"make ui: error: {error}", file=sys.stderr)
        return 2
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        **info.env(),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(SANDBOX / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_INTEGRATIONS_DLQ": str(SANDBOX / "dlq"),
    }
    print("Airflow UI: http://localhost:8080 (the admin password is printed by `airflow standalone` below)")
    try:
        return subprocess.call([str(bin_dir / "airflow"), "standalone"], env=env)  # noqa: S603
    except KeyboardInterrupt:
        return 0
    finally:
        runner.down(SANDBOX)


if __name__ == "__main__":
    sys.exit(main())
