"""How fast the sandbox serves records, so readers know a benchmark measures our code, not the stand-in.

Starts a private sandbox, grows each system's main stream to N records and reads it through this
package's hook and connector (REST query pages for Salesforce), timing records per second. The figures
include our own client's cost, so they are lower bounds on what the emulator serves.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integrations_sandbox import runner

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
STREAMS = {
    "salesforce": "Account",
    "stripe": "customers",
    "netsuite": "customer",
    "servicenow": "incident",
    "workday": "workers",
}


def hook_for(system: str) -> Any:
    module = __import__(f"airflow_provider_integrations.hooks.{system}", fromlist=["x"])
    cls = next(v for k, v in vars(module).items() if k.endswith("Hook") and k != "ConnectorHook")
    return cls(f"sandbox_{system}")


def measure(read: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = read()
    return count, time.perf_counter() - started


def main() -> int:
    import os

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ports = {name: runner.free_port() for name in ("s3", "snowflake", "saas")}
        sizes = {f"{system}/{stream}": N for system, stream in STREAMS.items()}
        info = runner.up(Path(tmp), ports=ports, sizes=sizes)
        try:
            env = info.env()
            salesforce = json.loads(env["AIRFLOW_CONN_SANDBOX_SALESFORCE"])
            salesforce["extra"]["bulk_threshold"] = 10**9
            env["AIRFLOW_CONN_SANDBOX_SALESFORCE"] = json.dumps(salesforce)
            os.environ.update(env)
            for system, stream in STREAMS.items():
                try:
                    hook = hook_for(system)
                except (ImportError, StopIteration):
                    results[system] = {"stream": stream, "status": "no connector yet"}
                    continue
                connector = hook.get_conn()
                count, seconds = measure(lambda c=connector, s=stream: sum(1 for _ in c.read(s)))
                hook.close()
                results[system] = {"stream": stream, "records": count, "seconds": round(seconds, 2),
                                   "records_per_s": round(count / seconds)}  # fmt: skip
                print(
                    f"{system:<11} {stream:<10} {count:>8} records {seconds:7.2f}s {count / seconds:>9.0f}/s"
                )
        finally:
            runner.down(Path(tmp))
    out = Path(__file__).with_name("emulator_throughput.json")
    out.write_text(json.dumps({"records": N, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
