"""Salesforce discovery and wide reads on the sandbox: what discovering an org costs, and what reading
every field of Account costs against the 14 fields of the shipped catalog.

Starts a private sandbox (the HTTPS SaaS emulator, TLS verified against its CA) and measures, in this
process, through the connector (`SalesforceConnector`, OAuth password flow):

- **discovery**: the org grown to `--objects` objects through the admin API (custom objects with
  generated fields), then `list_streams()` and `describe_streams()` of every listed object. API calls
  are the emulator's request counter per endpoint, reset before the run; seconds are wall time.
  The goal is 1 + ceil(objects / 25) calls.
- **throughput**: Account grown to `--records` records, read in full with the shipped catalog's
  stream (14 fields) and with the discovered one (every field Salesforce describes, compound
  components included), through REST query pages and through a Bulk API 2.0 query job, each record
  validated against its schema as the extract does. Records/s is wall time; CPU per record is this
  process's CPU time (the emulator runs in its own process), median of `--repeats` runs.

Prints markdown tables; writes nothing else.

    python benchmarks/discovery.py [--objects 500] [--records 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_provider_integrations.connectors.base import Stream, load_catalog  # noqa: E402
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector  # noqa: E402
from airflow_provider_integrations.connectors.salesforce_api import SalesforceSettings  # noqa: E402
from airflow_provider_integrations.connectors.salesforce_discovery import DescribeFailed  # noqa: E402


class Org:
    """The private sandbox's Salesforce: admin API, connection settings, connectors."""

    def __init__(self, info: Any) -> None:
        self.info = info
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=info.ca_bundle), timeout=300)
        conn = json.loads(info.env()["AIRFLOW_CONN_SANDBOX_SALESFORCE"])
        extra = conn["extra"]
        self.settings = SalesforceSettings(
            login_url=extra.get("auth_url") or conn["host"],
            client_id=extra["client_id"],
            client_secret=extra["client_secret"],
            username=conn["login"],
            password=conn["password"],
            security_token=extra.get("security_token", ""),
            api_version=extra.get("api_version", "59.0"),
            ca_bundle=info.ca_bundle,
        )

    def connector(self, streams: dict[str, Stream], **settings: Any) -> SalesforceConnector:
        return SalesforceConnector.connect(replace(self.settings, **settings), streams)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.info.admin_url}{path}", json=body)
        response.raise_for_status()
        return response.json()

    def calls(self) -> dict[str, int]:
        calls = self.admin("GET", "/counters")["calls"]
        return {k.removeprefix("salesforce "): v for k, v in calls.items() if k.startswith("salesforce ")}

    def grow(self, objects: int, listed: int) -> None:
        """Custom objects added through the admin API until describeGlobal lists `objects`, each with a
        few fields of common types (so its describe is as long as a small custom object's)."""
        fields = [
            {"name": "Status__c", "type": "picklist", "picklist": ["Open", "Closed"]},
            {"name": "Amount__c", "type": "currency"},
            {"name": "Due__c", "type": "date"},
            {"name": "Notes__c", "type": "textarea"},
        ]
        for i in range(objects - listed):
            change = {"action": "add_object", "object": f"Bench_{i:04d}__c", "size": 10, "fields": fields}
            self.admin("POST", "/schema/salesforce", change)


def discovery(org: Org, objects: int) -> dict[str, Any]:
    with org.connector({}) as sf:
        org.grow(objects, len(sf.list_streams()))
        org.admin("POST", "/counters/reset")
        started = time.perf_counter()
        names = sf.list_streams()
        described, refused = 0, 0
        try:
            for _ in sf.describe_streams(names):
                described += 1
        except DescribeFailed as failed:
            refused = len(failed.failures)
        seconds = time.perf_counter() - started
    calls = org.calls()
    return {
        "listed": len(names),
        "described": described,
        "refused": refused,
        "calls": sum(calls.values()),
        "by_endpoint": calls,
        "goal": 1 + math.ceil(len(names) / 25),
        "seconds": seconds,
    }


def read_once(org: Org, stream: Stream, api: str) -> tuple[int, float, float]:
    threshold = {"rest": 10**9, "bulk": 0}[api]
    with org.connector({stream.name: stream}, bulk_threshold=threshold) as sf:
        sf.check()
        wall, cpu = time.perf_counter(), time.process_time()
        validate: Callable[..., Any] = stream.schema.validate
        count = 0
        for record in sf.read(stream.name):
            validate(record)
            count += 1
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert sf.last_read_api == api, (sf.last_read_api, api)
    return count, wall, cpu


def throughput(org: Org, records: int, repeats: int) -> list[dict[str, Any]]:
    org.admin("PUT", "/datasets/salesforce/Account", {"size": records})
    catalog = load_catalog("salesforce.yaml")["Account"]
    with org.connector({}) as sf:
        description = next(iter(sf.describe_streams(["Account"])))
    discovered = Stream.from_config("Account", description.to_config())
    rows = []
    for label, stream in (("catalog", catalog), ("discovered", discovered)):
        for api in ("rest", "bulk"):
            runs = [read_once(org, stream, api) for _ in range(repeats)]
            count = runs[0][0]
            assert all(run[0] == records for run in runs), runs
            wall = statistics.median(run[1] for run in runs)
            cpu = statistics.median(run[2] for run in runs)
            rows.append(
                {
                    "stream": label,
                    "fields": len(stream.schema.names),
                    "api": api,
                    "records": count,
                    "records_per_s": count / wall,
                    "cpu_us_per_record": cpu / count * 1e6,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from integrations_sandbox import runner

    with tempfile.TemporaryDirectory() as tmp:
        info = runner.up(Path(tmp) / "sandbox", ports={"s3": 0, "snowflake": 0, "saas": 0})
        try:
            org = Org(info)
            found = discovery(org, args.objects)
            rows = throughput(org, args.records, args.repeats)
        finally:
            runner.down(Path(tmp) / "sandbox")
    print("| objects listed | described | refused | API calls | goal 1 + ceil(n/25) | seconds |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {found['listed']} | {found['described']} | {found['refused']} | {found['calls']} "
        f"| {found['goal']} | {found['seconds']:.2f} |"
    )
    print(f"\ncalls by endpoint: {found['by_endpoint']}\n")
    print("| Account stream | fields | API | records | records/s | CPU us/record |")
    print("|---|---:|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['stream']} | {row['fields']} | {row['api']} | {row['records']} "
            f"| {row['records_per_s']:,.0f} | {row['cpu_us_per_record']:.1f} |"
        )


if __name__ == "__main__":
    main()
