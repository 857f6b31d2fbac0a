"""`catalog discover` writes what a system holds to a catalog file; `catalog diff` compares one with it.

Both read the system through the connection's hook: `list_streams` (one call where the system allows),
the selection, then `describe_streams` for the selected streams, batched by the connector.

A stream the user may not read (the system refuses to describe it: Salesforce `INSUFFICIENT_ACCESS`, a
ServiceNow ACL's 403) is reported with the system's reason and left out; the others go on. That makes
the exit code 1, so a script notices, unless `--skip-inaccessible` says the user knows and accepts it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_integrations.connectors.base import Connector
from airflow_provider_integrations.core import catalog_file
from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import ConfigError, PermanentError

DONE = 0
ATTENTION = 1


def add_commands(commands: Any) -> None:
    parser = commands.add_parser("catalog", help="discover a system's streams; diff a catalog file")
    actions = parser.add_subparsers(dest="action", required=True)

    discover_ = actions.add_parser("discover", help="write the streams a connection may read to a file")
    discover_.add_argument("--conn-id", required=True, help="the Airflow connection of the system")
    discover_.add_argument(
        "--include", default="", help="comma-separated stream names or globs (default: every stream)"
    )
    discover_.add_argument("--exclude", default="", help="comma-separated stream names or globs to leave out")
    discover_.add_argument("-o", "--output", required=True, type=Path, help="the catalog file to write")
    _skip_option(discover_)
    discover_.set_defaults(run=run_discover)

    diff_ = actions.add_parser("diff", help="show what changed in the system since a catalog file")
    diff_.add_argument("--conn-id", required=True, help="the Airflow connection of the system")
    diff_.add_argument("catalog", type=Path, help="the committed catalog file")
    _skip_option(diff_)
    diff_.set_defaults(run=run_diff)


def _skip_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-inaccessible",
        action="store_true",
        help="streams the user may not read are still reported, but do not make the exit code 1",
    )


@dataclass
class Described:
    """What describing the selected streams gave: their descriptions, and the sources refused, each with
    the system's reason."""

    streams: list[StreamDescription] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def describe_all(connector: Connector, sources: Sequence[str]) -> Described:
    """Describe `sources` in the connector's batches. When the system refuses some, the connector either
    names each (an error with `failures` by source, after yielding the others) or stops at the first; then
    the sources not yet described are described one at a time, so each refusal is told apart."""
    result = Described()
    try:
        result.streams.extend(connector.describe_streams(sources))
    except PermanentError as error:
        failures = getattr(error, "failures", None)
        if isinstance(failures, Mapping):
            result.refused.update({str(name): str(reason) for name, reason in failures.items()})
        done = {d.source for d in result.streams} | set(result.refused)
        for source in [s for s in sources if s not in done]:
            try:
                result.streams.extend(connector.describe_streams([source]))
            except PermanentError as refused:
                result.refused[source] = str(refused)
    return result


@contextmanager
def _connector(conn_id: str) -> Iterator[Connector]:
    from airflow_provider_integrations.hooks.registry import hook_for

    hook = hook_for(conn_id)
    try:
        yield hook.get_conn()
    finally:
        hook.close()


def run_discover(args: argparse.Namespace) -> int:
    include, exclude = _patterns(args.include), _patterns(args.exclude)
    with _connector(args.conn_id) as connector:
        listed = connector.list_streams()
        where = f"{connector.system} (connection {args.conn_id!r})"
        selected = catalog_file.select(listed, include, exclude, where=where)
        described = describe_all(connector, selected)
        system = connector.system
    if not described.streams:
        raise ConfigError(f"{where}: none of the {len(selected)} selected stream(s) could be described")
    path = catalog_file.write(
        args.output,
        described.streams,
        system=system,
        connection=args.conn_id,
        include=include,
        exclude=exclude,
    )
    fields = sum(len(d.fields) for d in described.streams)
    left_out = sum(len(d.not_extracted) for d in described.streams)
    print(
        f"{system}: {len(listed)} stream(s) listed, {len(selected)} selected, "
        f"{len(described.streams)} described ({fields} fields, {left_out} not extracted) -> {path}"
    )
    return _report_refused(described.refused, args.skip_inaccessible)


def run_diff(args: argparse.Namespace) -> int:
    committed = catalog_file.read(args.catalog)
    with _connector(args.conn_id) as connector:
        if connector.system != committed.system:
            raise ConfigError(
                f"catalog {committed.path} describes {committed.system}, but connection "
                f"{args.conn_id!r} is {connector.system}"
            )
        listed = connector.list_streams()
        known = {stream.source for stream in committed.streams.values()}
        wanted = [
            s
            for s in listed
            if s in known or s in catalog_file.matching([s], committed.include, committed.exclude)
        ]
        described = describe_all(connector, wanted)
    refused_names = set(described.refused) | {
        name for name, stream in committed.streams.items() if stream.source in described.refused
    }
    changes = catalog_file.diff(committed, described.streams, undescribed=refused_names)
    for change in changes:
        print(change)
    print(
        f"{len(changes)} change(s) since {committed.discovered_at or 'the file was written'} "
        f"in {committed.path}"
        if changes
        else f"no changes: {committed.system} matches {committed.path}"
    )
    refused = _report_refused(described.refused, args.skip_inaccessible)
    return ATTENTION if changes else refused


def _report_refused(refused: Mapping[str, str], skip: bool) -> int:
    if not refused:
        return DONE
    print(f"left out {len(refused)} stream(s) the user may not read:", file=sys.stderr)
    for source, reason in sorted(refused.items()):
        print(f"  {source}: {reason}", file=sys.stderr)
    return DONE if skip else ATTENTION


def _patterns(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]
