"""Extract what the Stripe connector and its conformance tests need from Stripe's OpenAPI repository.

Reads a local git copy of github.com/stripe/openapi (MIT licence) and writes two files, so neither the
tests nor the connector ever reach the network:

- tests/conformance/fixtures/stripe/stripe_spec_subset.json: the schemas of the objects the sandbox
  serves (with every schema they reference, descriptions dropped; an expandable reference to an object
  the sandbox does not serve becomes "any object"), the parameters of the endpoints it emulates, and,
  per API version the sandbox claims, the fields that version adds to or removes from each object.
- airflow_provider_integrations/connectors/catalogs/stripe_<version>.json: every object the connector can
  list (a `GET /v1/<name>` returning a list), with its top-level fields, for `describe_streams`.

Stripe publishes one description per release; files of 4 MiB and more are not in the snapshot we read,
so the newest full description available is `--spec-commit` (API version 2023-08-16). The fields a later
version adds or removes are taken from Stripe's fixtures (one example of every object) published with that
version: a field in the version's fixture that the description lacks is added, with its type read from
the example; a field of the description's fixture that the version's fixture lacks is removed.

    python scripts/stripe_extract_spec.py --git-dir /work/.mirror/stripe+openapi/repo
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_COMMIT = "63a67463"  # 2023-09-12: the last spec3.yaml under the snapshot's 4 MiB limit (2023-08-16)
PINNED = "2024-06-20"
VERSIONS = {
    # version: the stripe/openapi commit whose fixtures describe it
    PINNED: "v1090",  # 2024-06-20, the release that published this version
    "2026-10-28.endive": "HEAD",  # newest fixtures in the snapshot (2026-08-21); see docs/sandbox/stripe.md
}
SERVED = (
    "customer",
    "charge",
    "invoice",
    "subscription",
    "subscription_item",
    "price",
    "event",
    "deleted_customer",
    "deleted_invoice",
    "error",
)
ENDPOINTS = {
    "/v1/customers": ("get", "post"),
    "/v1/customers/{customer}": ("get", "post"),
    "/v1/charges": ("get",),
    "/v1/charges/{charge}": ("get",),
    "/v1/invoices": ("get",),
    "/v1/invoices/{invoice}": ("get", "delete"),
    "/v1/subscriptions": ("get",),
    "/v1/subscriptions/{subscription_exposed_id}": ("get",),
    "/v1/events": ("get",),
    "/v1/events/{id}": ("get",),
}
_PROSE = {"description"}
_DROPPED_KEYS = {"x-stripeBypassValidation", "x-stripeMostCommon", "x-stripeOperations"}


def git_show(git_dir: str, commit: str, path: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def resolve(git_dir: str, commit: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", f"--git-dir={git_dir}", "rev-parse", f"{commit}^{{commit}}"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def strip(node: Any) -> Any:
    """A schema without prose, and with expandable references to objects we do not serve cut off."""
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "x-expansionResources" in node and "anyOf" in node:
        node = dict(node)
        node["anyOf"] = [
            alt if "$ref" not in alt or alt["$ref"].rsplit("/", 1)[1] in SERVED else {"type": "object"}
            for alt in node["anyOf"]
        ]
        node.pop("x-expansionResources")
    return {
        key: strip(value)
        for key, value in node.items()
        if key not in _DROPPED_KEYS and not (key in _PROSE and isinstance(value, str))
    }


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    stack = [name for name in roots if name in schemas]
    while stack:
        name = stack.pop()
        if name in found:
            continue
        found[name] = strip(schemas[name])
        stack += [ref.rsplit("/", 1)[1] for ref in references(found[name])]
    return dict(sorted(found.items()))


def references(node: Any) -> list[str]:
    if isinstance(node, list):
        return [ref for item in node for ref in references(item)]
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for key, value in node.items() if key != "$ref" for ref in references(value)]
    return []


def example_type(value: Any) -> dict[str, Any]:
    """The loosest schema an example value fits, for a field only a fixture tells us about."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"type": "boolean", "nullable": True}
    if isinstance(value, int):
        return {"type": "integer", "nullable": True}
    if isinstance(value, str):
        return {"type": "string", "nullable": True}
    if isinstance(value, list):
        return {"type": "array", "nullable": True}
    return {"type": "object", "nullable": True}


def version_changes(
    schemas: dict[str, Any], base: dict[str, Any], fixture: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per object: `added` fields (name -> loose schema) and `removed` fields of one version."""
    changes: dict[str, dict[str, Any]] = {}
    for name, schema in schemas.items():
        if name not in fixture or "properties" not in schema:
            continue
        known = set(schema["properties"])
        added = {field: example_type(value) for field, value in fixture[name].items() if field not in known}
        removed = sorted(
            field for field in base.get(name, {}) if field in known and field not in fixture[name]
        )
        if added or removed:
            changes[name] = {"added": dict(sorted(added.items())), "removed": removed}
    return changes


def endpoints(spec: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path, methods in ENDPOINTS.items():
        for method in methods:
            operation = spec["paths"][path][method]
            entry: dict[str, Any] = {
                "parameters": [strip(param) for param in operation.get("parameters", [])],
            }
            body = (
                operation.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded")
            )
            if body:
                entry["form"] = sorted(body["schema"].get("properties", {}))
            found[f"{method.upper()} {path}"] = entry
    return found


def list_endpoints(spec: dict[str, Any]) -> dict[str, str]:
    """`GET /v1/<name>` endpoints answering a list of one object type: stream name -> object schema."""
    found: dict[str, str] = {}
    for path, methods in spec["paths"].items():
        name = path.removeprefix("/v1/")
        if not path.startswith("/v1/") or "/" in name or "{" in name or "get" not in methods:
            continue
        schema = methods["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        items = schema.get("properties", {}).get("data", {}).get("items", {})
        if schema.get("properties", {}).get("object", {}).get("enum") == ["list"] and "$ref" in items:
            found[name] = items["$ref"].rsplit("/", 1)[1]
    return dict(sorted(found.items()))


def field_entry(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    nullable = bool(schema.get("nullable"))
    kind = schema.get("type")
    if "anyOf" in schema:
        alternatives = [alt.get("type") for alt in schema["anyOf"]]
        # An expandable reference is its id unless expanded.
        kind = "string" if "string" in alternatives and "x-expansionResources" in schema else "json"
    elif kind == "integer" and schema.get("format") == "unix-time":
        kind = "timestamp"
    elif kind in ("object", "array") or "$ref" in schema or kind is None:
        kind = "json"
    entry: dict[str, Any] = {"type": kind, "source_type": source_type(schema)}
    if required and not nullable:
        entry["required"] = True
    return entry


def source_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "anyOf" in schema:
        return "|".join(source_type(alt) for alt in schema["anyOf"])
    return str(schema.get("format") or schema.get("type") or "any")


EVENT_PREFIXES = {
    "dispute": "charge.dispute",
    "subscription": "customer.subscription",
    "tax_id": "customer.tax_id",
}
"""Objects whose events are named after another object (`customer.subscription.updated`)."""


def event_types(spec: dict[str, Any]) -> set[str]:
    """Every event type a webhook endpoint may enable, as the description lists them."""
    form = spec["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]["content"]
    schema = form["application/x-www-form-urlencoded"]["schema"]["properties"]["enabled_events"]
    return {name for name in schema["items"]["enum"] if name != "*"}


def catalog(
    spec: dict[str, Any], changes: dict[str, dict[str, Any]], source: dict[str, str]
) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    events = event_types(spec)
    streams: dict[str, Any] = {}
    for name, object_name in list_endpoints(spec).items():
        schema = schemas[object_name]
        required = set(schema.get("required", []))
        change = changes.get(object_name, {"added": {}, "removed": []})
        properties = {
            field: value
            for field, value in schema.get("properties", {}).items()
            if field not in change["removed"]
        }
        properties.update(change["added"])
        fields = {field: field_entry(value, field in required) for field, value in sorted(properties.items())}
        if "metadata" in fields:
            fields["metadata"] = {"type": "json", "source_type": "metadata"}
        prefix = EVENT_PREFIXES.get(object_name, object_name)
        entry: dict[str, Any] = {"object": object_name, "fields": fields}
        if any(event.startswith(f"{prefix}.") for event in events) and "created" in fields:
            entry["event_object"] = prefix
            entry["deletes"] = f"{prefix}.deleted" in events
        streams[name] = entry
    return {"api_version": PINNED, "source": source, "licence": "MIT, (c) Stripe, Inc.", "streams": streams}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-dir", required=True, help="a git copy of github.com/stripe/openapi")
    parser.add_argument("--spec-commit", default=SPEC_COMMIT)
    args = parser.parse_args()
    spec = yaml.load(git_show(args.git_dir, args.spec_commit, "openapi/spec3.yaml"), Loader=yaml.CSafeLoader)
    schemas = spec["components"]["schemas"]
    base_fixture = json.loads(git_show(args.git_dir, args.spec_commit, "openapi/fixtures3.json"))["resources"]
    source = {
        "repository": "https://github.com/stripe/openapi",
        "spec": f"openapi/spec3.yaml at {resolve(args.git_dir, args.spec_commit)}",
        "spec_version": str(spec["info"]["version"]),
    }
    versions: dict[str, Any] = {}
    for version, commit in VERSIONS.items():
        fixture = json.loads(git_show(args.git_dir, commit, "openapi/fixtures3.json"))["resources"]
        versions[version] = {
            "fixtures": f"openapi/fixtures3.json at {resolve(args.git_dir, commit)}",
            "changes": version_changes(schemas, base_fixture, fixture),
            "examples": {name: fixture[name] for name in SERVED if name in fixture},
        }
    subset = {
        "source": source,
        "schemas": closure(schemas, SERVED),
        "endpoints": endpoints(spec),
        "versions": versions,
    }
    fixtures = ROOT / "tests/conformance/fixtures/stripe"
    fixtures.mkdir(parents=True, exist_ok=True)
    (fixtures / "stripe_spec_subset.json").write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    license_text = git_show(args.git_dir, args.spec_commit, "LICENSE")
    (fixtures / "LICENSE").write_text(license_text)
    pinned = catalog(spec, versions[PINNED]["changes"], {**source, "fixtures": versions[PINNED]["fixtures"]})
    target = ROOT / f"airflow_provider_integrations/connectors/catalogs/stripe_{PINNED}.json"
    target.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
    (target.parent / "stripe_LICENSE").write_text(license_text)


if __name__ == "__main__":
    main()
