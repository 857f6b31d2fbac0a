"""The "Dead letters" page: a FastAPI app that the Airflow API server mounts at ``/dead-letters``.

Pages, for people (inside the Airflow UI at ``/plugin/dead-letters``)::

    GET  /dead-letters/                       entries, newest first, with filters
    GET  /dead-letters/entries/{id}           one entry: payload, error, context, history

JSON, for the page's script and for your own::

    GET  /dead-letters/api/entries            filters: system, stream, status, since, until, limit
    GET  /dead-letters/api/entries/{id}
    POST /dead-letters/api/entries/{id}/resolve   {"note": "..."}
    POST /dead-letters/api/entries/{id}/replay    {}
    POST /dead-letters/api/resolve                {"entry_ids": [...], "note": "..."}
    POST /dead-letters/api/replay                 {"entry_ids": [...]}

``since`` and ``until`` take a day (``2026-11-02``: ``until`` then includes that whole day) or an ISO 8601
time (UTC when it has no offset). Replay triggers the DAG ``integrations_dlq_replay`` with the conf
``{"entry_ids": [...]}``; that DAG replays the entries and records their new status.

Who may do what is decided by Airflow's auth manager for the caller's own token (``Authorization:
Bearer``) or the UI's session cookie:

- every route needs a signed-in user: a request without a token, or with an expired, forged, unsigned
  (``alg: none``) or wrongly signed one, gets 401 with ``WWW-Authenticate: Bearer`` (Airflow's own API
  answers 403 to a token it cannot verify; a caller that is not signed in is told to sign in here);
- an entry is visible to users who may read the runs of the DAG that wrote it; entries written outside
  a DAG need that right on all DAGs. Entries a user may not see are left out of lists and are 404s;
- resolving needs the right to edit those runs; replaying needs the right to trigger
  ``integrations_dlq_replay`` (as Airflow's own trigger endpoint requires) and to see every entry;
- POST requests must carry a JSON body and the header ``X-Requested-By: dead-letters`` (the page's
  script sends it; a form or link on another site cannot), and are written to Airflow's audit log.

The entries come from the store the tasks write to: ``AIRFLOW_INTEGRATIONS_DLQ``, else
``$AIRFLOW_HOME/dlq``. The store has already redacted secrets; this module never logs payloads, and the
pages escape everything they show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import jinja2
from airflow.api.common.trigger_dag import trigger_dag
from airflow.api_fastapi.app import API_ROOT_PATH, get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import (
    GetUserDep,
    bearer_scheme,
    get_user,
    requires_access_dag,
    requires_authenticated,
)
from airflow.api_fastapi.logging.decorators import action_logging
from airflow.exceptions import DagNotFound, DagRunAlreadyExists
from airflow.models.dag import DagModel
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.utils.session import create_session
from airflow.utils.types import DagRunTriggeredByType
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from airflow_provider_integrations.core.dlq import DLQEntry, DLQFilter, DLQStatus, DLQStore
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.watermark import parse_timestamp
from airflow_provider_integrations.dlq_config import open_dlq

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

REPLAY_DAG_ID = "integrations_dlq_replay"
CSRF_HEADER, CSRF_VALUE = "X-Requested-By", "dead-letters"
MAX_IDS = 1000  # as many as the list shows

_HERE = Path(__file__).parent
_STATIC = {"dlq_page.js": "text/javascript", "dlq_page.css": "text/css"}
_PAGE_HEADERS = {
    # Scripts only from this app: even markup that escaped escaping could not run.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE), autoescape=True, undefined=jinja2.StrictUndefined
)
_templates.filters["when"] = lambda t: t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else ""
_templates.filters["q"] = lambda s: quote(str(s), safe="")
_templates.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, default=str)

app = FastAPI(
    title="Dead letters",
    dependencies=[Depends(requires_authenticated())],
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


async def signed_in_user(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> BaseUser:
    """Airflow's user for the request; a token Airflow cannot verify is a 401 here, not a 403.

    Airflow's ``get_user`` only authenticates (permissions are checked elsewhere), so every refusal it
    makes means "not signed in": a missing, expired, forged or unsigned token.
    """
    try:
        return await get_user(request, None, bearer)
    except HTTPException as refused:
        if refused.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "sign in to Airflow: the request carries no valid token",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        raise


app.dependency_overrides[get_user] = signed_in_user


@contextmanager
def open_store() -> Iterator[DLQStore]:
    """The store tasks write to, for one request.

    ``sql://<conn_id>/<table>`` works as in tasks: in the API server, ``BaseHook.get_connection`` reads the
    metadata database as well as secrets backends and ``AIRFLOW_CONN_*``. A SQL store's connection is
    closed when the request ends.
    """
    try:
        store = open_dlq()
    except (ConfigError, AirflowNotFoundException) as exc:
        raise HTTPException(503, f"the dead-letter store cannot be opened: {exc}") from exc
    with store:
        yield store


class Filters(BaseModel):
    """The list's filters, as given in the query string; an empty field matches everything."""

    system: str = ""
    stream: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    limit: int = Field(200, ge=1, le=1000)

    def where(self) -> DLQFilter:
        statuses = [s.value for s in DLQStatus]
        if self.status and self.status not in statuses:
            raise HTTPException(400, f"status must be one of {', '.join(statuses)}")
        return DLQFilter(
            system=self.system or None,
            stream=self.stream or None,
            status=DLQStatus(self.status) if self.status else None,
            since=_bound(self.since, "since", end=False),
            until=_bound(self.until, "until", end=True),
        )


def _bound(value: str, name: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            return parse_timestamp(value, name, naive_is_utc=True)
        except ConfigError as exc:
            raise HTTPException(400, f"{name}: give a day (2026-11-02) or an ISO 8601 time") from exc
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _allowed(user: BaseUser, method: ResourceMethod, dag_ids: Iterable[str | None]) -> set[str | None]:
    """The DAG ids (None: written outside a DAG) whose runs `user` may access with `method`."""
    auth = get_auth_manager()
    return {
        dag_id
        for dag_id in set(dag_ids)
        if auth.is_authorized_dag(
            method=method,
            access_entity=DagAccessEntity.RUN,
            details=DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id) if dag_id else None),
            user=user,
        )
    }


def _visible(user: BaseUser, entries: list[DLQEntry]) -> list[DLQEntry]:
    allowed = _allowed(user, "GET", (e.dag_id for e in entries))
    return [e for e in entries if e.dag_id in allowed]


def _entries(store: DLQStore, user: BaseUser, ids: list[str]) -> list[DLQEntry]:
    """The entries with these ids in the order given, all visible to `user`, or a 404 naming the others."""
    wanted = list(dict.fromkeys(ids))
    found = {e.id: e for e in _visible(user, store.find(DLQFilter(ids=frozenset(wanted)), limit=len(wanted)))}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise HTTPException(404, f"no such dead letter: {', '.join(missing)}")
    return [found[i] for i in wanted]


def entry_detail(entry: DLQEntry) -> dict[str, Any]:
    """One entry as the detail view shows it: payload, error, context and status history.

    The store keeps an entry's latest status change, so the history is its creation and that change.
    """
    data = entry.to_json()
    history = [{"at": data["created_at"], "status": DLQStatus.NEW.value, "note": None}]
    if entry.updated_at is not None:
        history.append({"at": data["updated_at"], "status": data["status"], "note": entry.status_note})
    context = ("system", "stream", "operation", "record_key", "dag_id", "task_id", "run_id", "try_number")
    return {
        "id": entry.id,
        "status": data["status"],
        "created_at": data["created_at"],
        "payload": data["payload"],
        "error": {"class": entry.error_class, "message": entry.message, "attempt": entry.attempt},
        "context": {key: data[key] for key in context},
        "history": history,
    }


def resolve(user: BaseUser, ids: list[str], note: str | None) -> dict[str, Any]:
    """Mark entries resolved; needs the right to edit the runs of the DAGs that wrote them."""
    with open_store() as store:
        entries = _entries(store, user, ids)
        dag_ids = {e.dag_id for e in entries}
        denied = dag_ids - _allowed(user, "PUT", dag_ids)
        if denied:
            names = ", ".join(sorted(d or "(no DAG)" for d in denied))
            raise HTTPException(403, f"you may not change the runs of: {names}")
        store.mark([e.id for e in entries], DLQStatus.RESOLVED, note or None)
    return {"entry_ids": [e.id for e in entries], "status": DLQStatus.RESOLVED.value, "note": note or None}


def replay(user: BaseUser, ids: list[str], request: Request) -> dict[str, Any]:
    """Trigger the replay DAG for these entries; the caller's right to trigger it is checked by the route.

    The run is recorded as triggered by the UI when the request comes from a page (it has a referer), as
    Airflow's own trigger endpoint does, and by the REST API otherwise.
    """
    ui = bool(request.headers.get("referer"))
    with open_store() as store:
        entry_ids = [e.id for e in _entries(store, user, ids)]
    try:
        with create_session() as session:
            run = trigger_dag(
                REPLAY_DAG_ID,
                triggered_by=DagRunTriggeredByType.UI if ui else DagRunTriggeredByType.REST_API,
                triggering_user_name=user.get_name(),
                conf={"entry_ids": entry_ids},
                session=session,
            )
            dag = DagModel.get_current(REPLAY_DAG_ID, session=session)
            run_id, paused = run.run_id if run else "", bool(dag and dag.is_paused)
    except DagNotFound as exc:
        raise HTTPException(404, f"the DAG {REPLAY_DAG_ID} is not deployed or not parsed yet") from exc
    except DagRunAlreadyExists as exc:
        raise HTTPException(409, "a replay run with that id exists already; try again") from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {
        "dag_id": REPLAY_DAG_ID,
        "dag_run_id": run_id,
        "entry_ids": entry_ids,
        "dag_paused": paused,
        "run_url": f"{API_ROOT_PATH}dags/{REPLAY_DAG_ID}/runs/{quote(run_id, safe='')}",
    }


# --- JSON ---------------------------------------------------------------------------------------------


def _json_post(request: Request) -> None:
    """POST actions take JSON with the page's header, which a form or link on another site cannot send."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send a JSON body")
    if request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise HTTPException(403, f"send the header {CSRF_HEADER}: {CSRF_VALUE}")


_may_replay = Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=REPLAY_DAG_ID))


class Note(BaseModel):
    """Body of a resolve: an optional note kept with the entry."""

    note: str | None = Field(None, max_length=2000)


class EntryIds(BaseModel):
    """Body of a replay of several entries."""

    entry_ids: list[str] = Field(min_length=1, max_length=MAX_IDS)


class ResolveMany(EntryIds, Note):
    """Body of a resolve of several entries."""


@app.get("/api/entries")
def api_list(user: GetUserDep, filters: Annotated[Filters, Query()]) -> dict[str, Any]:
    with open_store() as store:
        entries = _visible(user, store.find(filters.where(), limit=filters.limit))
    return {"entries": [e.to_json() for e in entries], "count": len(entries), "limit": filters.limit}


@app.get("/api/entries/{entry_id}")
def api_detail(user: GetUserDep, entry_id: str) -> dict[str, Any]:
    with open_store() as store:
        return entry_detail(_entries(store, user, [entry_id])[0])


_resolving = [Depends(_json_post), Depends(action_logging("dlq_resolve"))]
_replaying = [Depends(_json_post), _may_replay, Depends(action_logging("dlq_replay"))]


@app.post("/api/entries/{entry_id}/resolve", dependencies=_resolving)
def api_resolve_one(user: GetUserDep, entry_id: str, body: Note) -> dict[str, Any]:
    return resolve(user, [entry_id], body.note)


@app.post("/api/entries/{entry_id}/replay", dependencies=_replaying)
def api_replay_one(request: Request, user: GetUserDep, entry_id: str) -> dict[str, Any]:
    return replay(user, [entry_id], request)


@app.post("/api/resolve", dependencies=_resolving)
def api_resolve(user: GetUserDep, body: ResolveMany) -> dict[str, Any]:
    return resolve(user, body.entry_ids, body.note)


@app.post("/api/replay", dependencies=_replaying)
def api_replay(request: Request, user: GetUserDep, body: EntryIds) -> dict[str, Any]:
    return replay(user, body.entry_ids, request)


# --- HTML ---------------------------------------------------------------------------------------------


def _page(request: Request, **context: Any) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    html = _templates.get_template("dlq_page.html").render(
        root=root, ui_root=API_ROOT_PATH, statuses=[s.value for s in DLQStatus], **context
    )
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@app.get("/", response_class=HTMLResponse)
def list_page(request: Request, user: GetUserDep, filters: Annotated[Filters, Query()]) -> HTMLResponse:
    try:
        where = filters.where()
    except HTTPException as exc:
        return _page(request, view="list", filters=filters, entries=[], error=exc.detail)
    with open_store() as store:
        entries = _visible(user, store.find(where, limit=filters.limit))
    return _page(request, view="list", filters=filters, entries=entries, error=None)


@app.get("/entries/{entry_id}", response_class=HTMLResponse)
def detail_page(request: Request, user: GetUserDep, entry_id: str) -> HTMLResponse:
    with open_store() as store:
        entry = _entries(store, user, [entry_id])[0]
    return _page(request, view="detail", entry=entry, detail=entry_detail(entry), error=None)


@app.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    if name not in _STATIC:
        raise HTTPException(404, "not found")
    return FileResponse(_HERE / "static" / name, media_type=_STATIC[name], headers=_PAGE_HEADERS)
