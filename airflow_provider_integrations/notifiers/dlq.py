"""A task callback that writes one dead-letter entry per failed try, and the default task arguments
that wire it in together with retries and backoff."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseNotifier, Context

from airflow_provider_integrations.core.dlq import DLQEntry, RunContext
from airflow_provider_integrations.dlq_config import open_dlq

log = logging.getLogger(__name__)
OPERATION = "task_failure"
MAX_TEXT = 4_000
MAX_DEPTH = 4
STREAM_ATTRIBUTES = ("stream", "target", "target_table", "table")


def failure_entry_id(dag_id: str, task_id: str, run_id: str, map_index: int, try_number: int) -> str:
    """One id per failed try of a task instance, so a callback that runs twice stores one entry."""
    parts = (OPERATION, dag_id, task_id, run_id, str(map_index), str(try_number))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class DeadLetterNotifier(BaseNotifier):
    """Record every failed try of a task in the dead-letter queue.

    Use it as both `on_retry_callback` and `on_failure_callback` (see :func:`default_task_args`):
    Airflow calls the first after a try that will be retried and the second after the last one, so
    each failed try gives exactly one entry, with operation `task_failure`, the exception's class and
    message, the dag, task, run and try, the log URL, and the input the task was working on (its
    rendered template fields). Known secrets and secret-named fields are masked. The entry's id is
    derived from (dag, task, run, map index, try): a callback that runs twice still stores one entry.

    Entries go to `dlq_uri` when given, else to the task's own `dlq_uri` (where our operators put
    their dead records), else to the default store. A failure of the callback itself is logged and
    never raised: it must not change the task's outcome.
    """

    template_fields = ("dlq_uri",)

    def __init__(self, dlq_uri: str | None = None) -> None:
        super().__init__()
        self.dlq_uri = dlq_uri

    def __call__(self, *args: Any) -> None:
        # The base class re-raises what rendering or notify() raise; a failure callback must not.
        try:
            super().__call__(*args)
        except Exception:
            log.exception("could not write the task failure to the DLQ")

    def notify(self, context: Context) -> None:
        try:
            entry = failure_entry(context)
            if entry is None:
                log.warning("no task instance in the callback's context; nothing written to the DLQ")
                return
            task = context.get("task")
            uri = self.dlq_uri or getattr(task, "dlq_uri", None) or None
            with open_dlq(uri) as store:
                store.write([entry])
            log.info(
                "failure of %s try %s written to the DLQ as %s", entry.task_id, entry.try_number, entry.id
            )
        except Exception:
            log.exception("could not write the task failure to the DLQ")


def failure_entry(context: Context) -> DLQEntry | None:
    """The DLQ entry for the failed try described by a callback's `context` (None without a task
    instance)."""
    ti = context.get("ti")
    if ti is None:
        return None
    task = context.get("task") or getattr(ti, "task", None)
    run_id = str(context.get("run_id") or ti.run_id)
    try_number = int(ti.try_number or 0)
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else int(map_index)
    error = context.get("exception")
    if isinstance(error, BaseException):
        reason: tuple[str, str] = (type(error).__name__, _text(str(error)))
    else:
        reason = (
            "TaskFailed",
            _text(str(error or "the task failed without an exception (killed or timed out)")),
        )
    payload: dict[str, Any] = {
        "log_url": _log_url(ti),
        "operator": type(task).__name__ if task is not None else None,
        "map_index": map_index,
        "input": _rendered_fields(task),
    }
    entry = DLQEntry.create(
        system=_attribute(task, ("system",)) or "airflow",
        stream=_attribute(task, STREAM_ATTRIBUTES) or ti.task_id,
        operation=OPERATION,
        error=(reason[0], _masked(reason[1])),
        payload=_masked(payload),
        context=RunContext(ti.dag_id, ti.task_id, run_id, try_number),
    )
    return replace(entry, id=failure_entry_id(ti.dag_id, ti.task_id, run_id, map_index, try_number))


def _attribute(task: Any, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = getattr(task, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _log_url(ti: Any) -> str | None:
    try:
        return str(ti.log_url)
    except Exception:
        return None


def _rendered_fields(task: Any) -> dict[str, Any]:
    fields = getattr(task, "template_fields", ()) or ()
    return {name: _plain(getattr(task, name, None)) for name in fields}


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of a field's value."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return _text(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    return _text(value if isinstance(value, str) else str(value))


def _text(text: str) -> str:
    return (
        text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"... ({len(text) - MAX_TEXT} more characters)"
    )


def _masked(value: Any) -> Any:
    """What Airflow's secrets masker hides in logs (connection passwords and extras the task read,
    secret-named keys) is hidden here too."""
    # Airflow 3.3's own operators import it from here; if it moves, writing fails (and is logged)
    # rather than storing an unmasked entry.
    from airflow.sdk._shared.secrets_masker import redact

    return redact(value)


def default_task_args(
    dlq_uri: str | None = None,
    *,
    retries: int = 3,
    retry_delay: timedelta = timedelta(minutes=2),
    backoff_multiplier: float = 2.0,
    max_retry_delay: timedelta = timedelta(minutes=30),
    execution_timeout: timedelta | None = timedelta(hours=2),
) -> dict[str, Any]:
    """`default_args` for a DAG: retries with exponential backoff, a timeout, and every failed try
    written to the DLQ by one :class:`DeadLetterNotifier`.

    In Airflow 3.3 `retry_exponential_backoff` is a multiplier (0 turns backoff off; the old `True`
    is read as 2.0). With the defaults the n-th retry waits between 2 * 2**(n-1) and twice that many
    minutes (Airflow's deterministic jitter), never more than `max_retry_delay`.
    """
    notifier = DeadLetterNotifier(dlq_uri)
    return {
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": float(backoff_multiplier),
        "max_retry_delay": max_retry_delay,
        "execution_timeout": execution_timeout,
        "on_retry_callback": notifier,
        "on_failure_callback": notifier,
    }
