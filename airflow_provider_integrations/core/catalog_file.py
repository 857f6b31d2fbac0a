"""Catalog files: the streams discovered in a system, written for a person to review and commit.

A catalog file is the YAML a connector's shipped catalog uses (`streams:` entries that
`Stream.from_config` reads) under a header saying where it came from::

    # Discovered by `python -m airflow_provider_integrations catalog discover`. ...
    system: salesforce
    connection: salesforce_prod
    discovered_at: '2026-12-05T17:00:00+00:00'
    include: [Account, '*__c']
    exclude: []
    counts: {streams: 2, fields: 75, not_extracted: 3}
    streams:
      Account:
        source: Account
        primary_key: [Id]
        ...
        fields:
          Id: {type: string, required: true, source_type: id}

Streams are written sorted by name and each stream's key fields first, then the others by name, one
field a line: discovering again writes the same file but for what changed, so its git diff is the change.
`include` and `exclude` keep the selection the file was discovered with, so `catalog diff` can tell a
stream the system added (it matches the selection) from one the user left out.

Reading a file checks every entry: a file YAML cannot parse is a :class:`ConfigError` with its line and
column; an entry that is not a stream (a missing key, an unknown type, a misspelt setting) names the file,
the line and the stream.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.schema_drift import (
    SchemaChange,
    compare,
    stream_added,
    stream_removed,
)

HEADER = (
    "# Discovered by `python -m airflow_provider_integrations catalog discover`. Review it, commit it,\n"
    "# and run `catalog diff` to see what changed in the system since (docs/catalogs.md).\n"
)
STREAM_KEYS = frozenset(
    {
        "source",
        "primary_key",
        "cursor",
        "changed_at",
        "deletes",
        "fields",
        "options",
        "naive_timestamps",
        "custom",
        "not_extracted",
    }
)
"""The settings a stream entry may carry: any other key is a misspelling, refused rather than ignored."""
_GLOB = frozenset("*?[")

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type[Any] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Catalog:
    """A catalog file as read: where it came from, its streams as entries and as :class:`Stream`."""

    path: Path
    system: str
    connection: str
    discovered_at: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    entries: Mapping[str, Mapping[str, Any]]
    """Each stream's catalog entry, as written (what `Stream.from_config` reads)."""
    streams: Mapping[str, Stream]
    lines: Mapping[str, int]
    """The line each stream's entry starts on, for errors about it."""

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def select(self, include: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
        """The streams of this file that `include` names or matches and `exclude` does not (see `select`)."""
        return select(self.names, include, exclude, where=f"catalog {self.path}")


def render(
    descriptions: Iterable[StreamDescription],
    *,
    system: str,
    connection: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    discovered_at: datetime | None = None,
) -> str:
    """The text of a catalog file holding `descriptions`."""
    streams = sorted(descriptions, key=lambda d: d.name)
    names = [d.name for d in streams]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"discovery described {duplicates} more than once")
    when = (discovered_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    header = {
        "system": system,
        "connection": connection,
        "discovered_at": when.isoformat(),
        "include": _flow(list(include)),
        "exclude": _flow(list(exclude)),
        "counts": _flow(
            {
                "streams": len(streams),
                "fields": sum(len(d.fields) for d in streams),
                "not_extracted": sum(len(d.not_extracted) for d in streams),
            }
        ),
        "streams": {d.name: _entry(d) for d in streams},
    }
    body = yaml.dump(header, Dumper=_CatalogDumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def write(path: str | os.PathLike[str], descriptions: Iterable[StreamDescription], **header: Any) -> Path:
    """Write a catalog file (see `render` for `header`), replacing `path` whole or not at all."""
    target = Path(path)
    text = render(descriptions, **header)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; a catalog is not a secret
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read(path: str | os.PathLike[str]) -> Catalog:
    """The catalog file at `path`, every entry checked. Read once per version of the file."""
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError as error:
        raise ConfigError(f"catalog {path}: cannot read it: {error.strerror}") from None
    return _read(resolved, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int, size: int) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"catalog {path}: cannot read it: {error}") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        raise ConfigError(f"catalog {path}{_where(error)}: not valid YAML: {_problem(error)}") from None
    finally:
        loader.dispose()
    if not isinstance(document, Mapping):
        raise ConfigError(
            f"catalog {path}: expected a mapping with 'system' and 'streams', got {_kind(document)}"
        )
    system = document.get("system")
    if not isinstance(system, str) or not system:
        raise ConfigError(f"catalog {path}: needs 'system:' naming the system it describes (salesforce, ...)")
    entries = document.get("streams")
    if not isinstance(entries, Mapping) or not entries:
        raise ConfigError(f"catalog {path}: needs 'streams:', a mapping of stream names to entries")
    lines = _stream_lines(node)
    streams = {}
    for name, entry in entries.items():
        streams[str(name)] = _stream(path, str(name), entry, lines.get(str(name)))
    return Catalog(
        path=path,
        system=system,
        connection=str(document.get("connection") or ""),
        discovered_at=str(document.get("discovered_at") or ""),
        include=_patterns(path, document, "include"),
        exclude=_patterns(path, document, "exclude"),
        entries={str(name): entry for name, entry in entries.items()},
        streams=streams,
        lines=lines,
    )


def select(
    names: Sequence[str], include: Sequence[str], exclude: Sequence[str] = (), *, where: str
) -> list[str]:
    """The `names` that `include` names or matches (all of them when it is empty) and `exclude` does not,
    in the order of `names`.

    A pattern is a name as the system spells it (`Account`), or a glob (`*__c`, `u_*`; fnmatch,
    case-sensitive). A name `names` lacks, or a glob that matches none, is a :class:`ConfigError` naming
    `where` (the catalog file, the system) and the closest names.
    """
    chosen = set(names) if not include else {n for p in include for n in expand(names, p, where=where)}
    dropped = {n for p in exclude for n in expand(names, p, where=where)}
    return [n for n in names if n in chosen and n not in dropped]


def expand(names: Sequence[str], pattern: str, *, where: str) -> list[str]:
    """The `names` one pattern names or matches, in their order; none is a :class:`ConfigError`."""
    if not is_glob(pattern):
        if pattern in names:
            return [pattern]
        raise ConfigError(f"{where} has no stream {pattern!r}{_closest(pattern, names)}")
    matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    if not matched:
        raise ConfigError(
            f"{where}: the pattern {pattern!r} matches no stream{_closest(pattern, names)} "
            "(patterns are case-sensitive)"
        )
    return matched


def is_glob(pattern: str) -> bool:
    """Whether `pattern` is a glob (`*`, `?`, `[...]`) rather than one stream's name."""
    return bool(_GLOB & set(pattern))


def matching(names: Iterable[str], include: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """The `names` `include` names or matches (all when empty) and `exclude` does not; names and globs
    that match nothing are passed over, as when a system no longer has what a catalog was made with."""
    return [
        n
        for n in names
        if (not include or any(fnmatch.fnmatchcase(n, p) for p in include))
        and not any(fnmatch.fnmatchcase(n, p) for p in exclude)
    ]


def diff(
    committed: Catalog,
    live: Iterable[StreamDescription],
    *,
    undescribed: Iterable[str] = (),
) -> list[SchemaChange]:
    """What changed from the `committed` catalog to the `live` descriptions: per stream the changes
    `schema_drift.compare` finds, then the streams added and removed. Streams in `undescribed` (the
    system lists them but would not describe them now) are neither compared nor called removed."""
    described = {d.name: d for d in live}
    skipped = set(undescribed)
    changes: list[SchemaChange] = []
    for name, stream in committed.streams.items():
        if name in described:
            changes.extend(compare(stream.schema.fields, described[name], stream=name))
        elif name not in skipped:
            changes.append(stream_removed(name))
    changes.extend(stream_added(d) for name, d in sorted(described.items()) if name not in committed.streams)
    return changes


def _entry(description: StreamDescription) -> dict[str, Any]:
    entry = description.to_config()
    key = list(description.primary_key)
    order = key + sorted((n for n in entry["fields"] if n not in key), key=str.casefold)
    entry["fields"] = {n: _flow(entry["fields"][n]) for n in order}
    for name in ("primary_key", "cursor"):
        if name in entry:
            entry[name] = _flow(entry[name])
    return entry


def _stream(path: Path, name: str, entry: Any, line: int | None) -> Stream:
    where = f"catalog {path}" + (f", line {line}" if line else "") + f": stream {name!r}"
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping (source, primary_key, fields, ...), got {_kind(entry)}"
        )
    unknown = sorted(set(map(str, entry)) - STREAM_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {unknown}; a stream takes {sorted(STREAM_KEYS)}")
    if not isinstance(entry.get("fields"), Mapping):
        raise ConfigError(f"{where}: needs 'fields:', a mapping of field names to types")
    try:
        return Stream.from_config(name, entry)
    except ConfigError as error:
        detail = str(error).removeprefix(f"stream {name!r} ")
        raise ConfigError(f"{where}: {detail}") from None


def _patterns(path: Path, document: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = document.get(key) or []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f"catalog {path}: '{key}' must be a list of stream names or globs")
    return tuple(value)


def _stream_lines(node: Any) -> dict[str, int]:
    """The line (from 1) each entry under `streams:` starts on, from the parsed YAML node tree."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    for key, value in node.value:
        if key.value == "streams" and isinstance(value, yaml.MappingNode):
            return {str(k.value): k.start_mark.line + 1 for k, _ in value.value}
    return {}


def _where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _problem(error: yaml.YAMLError) -> str:
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    text = "; ".join(p for p in parts if p)
    return text or str(error).splitlines()[0]


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _closest(pattern: str, names: Sequence[str]) -> str:
    folded = {n.casefold(): n for n in names}
    stem = pattern.casefold().strip("*?[]")
    close = [folded[n] for n in difflib.get_close_matches(stem, list(folded), n=5, cutoff=0.6)]
    if close:
        return f"; closest: {', '.join(close)}"
    sample = ", ".join(list(names)[:10]) + (", ..." if len(names) > 10 else "")
    return f"; it has {len(names)} stream(s): {sample}" if names else "; it has no streams"


class _FlowDict(dict[str, Any]):
    """A mapping written on one line: `{type: string, required: true}`."""


class _FlowList(list[Any]):
    """A list written on one line: `[Id]`."""


def _flow(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _FlowDict(value)
    return _FlowList(value)


class _CatalogDumper(_Dumper):  # type: ignore[misc]
    pass


def _represent_flow_dict(dumper: Any, value: _FlowDict) -> Any:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


def _represent_flow_list(dumper: Any, value: _FlowList) -> Any:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_CatalogDumper.add_representer(_FlowDict, _represent_flow_dict)
_CatalogDumper.add_representer(_FlowList, _represent_flow_list)
