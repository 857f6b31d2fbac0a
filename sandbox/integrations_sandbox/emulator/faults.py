"""Fault profiles and counters: what goes wrong, reproducibly from a seed, and what was served.

Request faults are decided by (seed, system, request number since the profile was set), so the same
sequence of calls meets the same faults whatever the system served before. Poison records are decided
by (seed, stream, record index) and write failures by (seed, record key, attempt), so they do not
depend on the order of calls at all.
"""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from integrations_sandbox.emulator.data import unit


@dataclass(frozen=True)
class FaultProfile:
    """Rates (0..1) of each fault for one system. The default profile injects nothing."""

    seed: int = 0
    rate_429: float = 0.0
    retry_after: float = 1.0
    rate_5xx: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 2.0
    rate_reset: float = 0.0
    rate_expired_cursor: float = 0.0
    rate_drop_reply: float = 0.0
    """Share of requests the system applies and then answers with headers only, the body never
    completing: the client cannot tell whether its write happened (a lost reply)."""
    poison_rate: float = 0.0
    write_transient_rate: float = 0.0
    write_permanent_rate: float = 0.0
    api_budget: int | None = None
    down: bool = False
    only_endpoints: tuple[str, ...] = ()
    """Request faults only for calls matching one of these `fnmatch` patterns of "METHOD /path", ids
    folded to `{id}` as the `calls` counter shows them (e.g. "PATCH */jobs/ingest/{id}"); empty: any call."""
    max_faults: int | None = None
    """No more request faults once this many were injected since the profile was set (None: no limit)."""

    @classmethod
    def from_json(cls, data: dict[str, Any], base: FaultProfile | None = None) -> FaultProfile:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}; known: {sorted(known)}")
        if isinstance(data.get("only_endpoints"), list):
            data = {**data, "only_endpoints": tuple(str(p) for p in data["only_endpoints"])}
        profile = replace(base or cls(), **data)
        for name in (
            "rate_429",
            "rate_5xx",
            "rate_slow",
            "rate_reset",
            "rate_expired_cursor",
            "rate_drop_reply",
            "poison_rate",
        ):
            if not 0 <= getattr(profile, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        return profile

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """Per-system fault profiles plus the counters tests assert on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.profiles: dict[str, FaultProfile] = defaultdict(FaultProfile)
        self.requests: Counter[str] = Counter()
        self._profile_set_at: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.records_served: Counter[str] = Counter()
        self.writes: dict[str, Counter[str]] = defaultdict(Counter)
        self.accepted: dict[str, Counter[str]] = defaultdict(Counter)
        self.budget_used: Counter[str] = Counter()

    def set_profile(self, system: str, profile: FaultProfile) -> None:
        with self._lock:
            self.profiles[system] = profile
            self._profile_set_at[system] = self.requests[system]
            self._injected[system] = 0

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self._profile_set_at.clear()
            self._injected.clear()
            self.calls.clear()
            self.records_served.clear()
            self.writes.clear()
            self.accepted.clear()
            self.budget_used.clear()

    def next_request(self, system: str, endpoint: str) -> tuple[int, FaultProfile]:
        """Count a call and return its number within the system and the system's profile."""
        with self._lock:
            self.requests[system] += 1
            self.calls[f"{system} {endpoint}"] += 1
            self.budget_used[system] += 1
            return self.requests[system], self.profiles[system]

    def request_fault(self, system: str, number: int, endpoint: str = "") -> str | None:
        """Which fault, if any, request `number` of `system` (to `endpoint`, "METHOD /path") meets: 429,
        5xx, reset, slow, expired_cursor, drop_reply."""
        profile = self.profiles[system]
        if profile.down:
            return "5xx"
        if profile.only_endpoints and not any(
            fnmatch.fnmatchcase(endpoint, pattern) for pattern in profile.only_endpoints
        ):
            return None
        with self._lock:
            if profile.max_faults is not None and self._injected[system] >= profile.max_faults:
                return None
            kind = self._draw(profile, system, number)
            if kind is not None:
                self._injected[system] += 1
            return kind

    def _draw(self, profile: FaultProfile, system: str, number: int) -> str | None:
        draw = unit(profile.seed, system, number - self._profile_set_at[system], "request")
        for kind, rate in (
            ("429", profile.rate_429),
            ("5xx", profile.rate_5xx),
            ("reset", profile.rate_reset),
            ("slow", profile.rate_slow),
            ("expired_cursor", profile.rate_expired_cursor),
            ("drop_reply", profile.rate_drop_reply),
        ):
            if draw < rate:
                return kind
            draw -= rate
        return None

    def is_poison(self, system: str, stream: str, index: int) -> bool:
        profile = self.profiles[system]
        return profile.poison_rate > 0 and unit(profile.seed, stream, index, "poison") < profile.poison_rate

    def write_outcome(self, system: str, stream: str, key: str) -> str:
        """Count a write of `key` and say how it ends: "ok", "transient" or "permanent".

        `writes` counts every attempt; `accepted` only those let through, so a record applied twice for
        one change shows as 2 there."""
        with self._lock:
            self.writes[f"{system}/{stream}"][key] += 1
            attempt = self.writes[f"{system}/{stream}"][key]
            profile = self.profiles[system]
        if unit(profile.seed, system, stream, key, "permanent") < profile.write_permanent_rate:
            return "permanent"
        if unit(profile.seed, system, stream, key, attempt, "transient") < profile.write_transient_rate:
            return "transient"
        with self._lock:
            self.accepted[f"{system}/{stream}"][key] += 1
        return "ok"

    def rolled_back(self, system: str, stream: str, key: str) -> None:
        """A write let through was undone (Salesforce's allOrNone): it no longer counts as accepted."""
        with self._lock:
            self.accepted[f"{system}/{stream}"][key] -= 1

    def served(self, system: str, stream: str, n: int) -> None:
        with self._lock:
            self.records_served[f"{system}/{stream}"] += n

    def budget_left(self, system: str) -> int | None:
        budget = self.profiles[system].api_budget
        return None if budget is None else budget - self.budget_used[system]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "calls": dict(self.calls),
                "records_served": dict(self.records_served),
                "writes": {k: dict(v) for k, v in self.writes.items()},
                "accepted": {k: dict(v) for k, v in self.accepted.items()},
                "budget_used": dict(self.budget_used),
                "profiles": {k: v.to_json() for k, v in self.profiles.items()},
            }
