"""Stripe writes: form-encoded bodies, Idempotency-Key replay, and customer parameters.

Stripe saves an idempotent result only once an endpoint has started executing: a validation failure or
a lock timeout is not saved, so retrying it with the same key runs again. A saved result is replayed for
24 hours to the same key with the same parameters; other parameters under that key are an error.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from integrations_sandbox.emulator.systems.stripe_paging import ParamError

IDEMPOTENCY_TTL = 24 * 3600.0
IDEMPOTENCY_CAPACITY = 10_000
CUSTOMER_FIELDS = {
    "address",
    "balance",
    "description",
    "email",
    "invoice_prefix",
    "invoice_settings",
    "metadata",
    "name",
    "next_invoice_sequence",
    "phone",
    "preferred_locales",
    "shipping",
    "tax_exempt",
}
"""Customer parameters that change the customer object as served."""
_UNSERVED = {"cash_balance", "expand", "tax"}
"""Documented parameters whose effect the served customer object does not show (its cash balance and
tax settings appear only when expanded), accepted and kept nowhere."""
_REFERENCES = {"coupon": "coupon", "promotion_code": "promotion code", "source": "source"}
_CREATE_ONLY = {"payment_method": "PaymentMethod", "test_clock": "test clock"}
_UPDATE_ONLY = {
    "bank_account": "source",
    "card": "source",
    "default_alipay_account": "source",
    "default_bank_account": "source",
    "default_card": "source",
    "default_source": "source",
}
"""Documented parameters naming objects the sandbox holds none of: refused as Stripe refuses an id it does
not know (`resource_missing`), never as unknown parameters."""


def parse_form(body: bytes) -> dict[str, Any]:
    """A form body as the stripe library encodes it (`metadata[k]=v`, `expand[]=x`, `items[0][a]=b`)."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        head, bracket, rest = name.partition("[")
        path = [head, *rest[:-1].split("][")] if bracket else [head]
        node: Any = root
        for key, child in itertools.pairwise(path):
            node = node.setdefault(key, [] if child == "" else {})
        last = path[-1]
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
    return {key: _listify(value) for key, value in root.items()}


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        items = {key: _listify(child) for key, child in value.items()}
        if items and all(key.isdigit() for key in items):
            return [items[key] for key in sorted(items, key=int)]
        return items
    return value


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    text = json.dumps([method, path, params], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Saved:
    """A response kept for replay under its Idempotency-Key."""

    fingerprint: str
    status: int
    body: bytes
    request_id: str
    at: float


class IdempotencyStore:
    """Saved responses by key, for 24 hours, at most `capacity` of them (oldest dropped first)."""

    def __init__(self, clock: Callable[[], float] = time.time, capacity: int = IDEMPOTENCY_CAPACITY) -> None:
        self.clock = clock
        self.capacity = capacity
        self._saved: OrderedDict[str, Saved] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key: str) -> Saved | None:
        with self._lock:
            saved = self._saved.get(key)
            if saved is not None and self.clock() - saved.at > IDEMPOTENCY_TTL:
                del self._saved[key]
                return None
            return saved

    def save(self, key: str, print_: str, status: int, body: bytes, request_id: str) -> None:
        with self._lock:
            self._saved[key] = Saved(print_, status, body, request_id, self.clock())
            self._saved.move_to_end(key)
            while len(self._saved) > self.capacity:
                self._saved.popitem(last=False)


def customer_changes(
    params: dict[str, Any], current: dict[str, Any], *, creating: bool = False
) -> dict[str, Any]:
    """The customer fields a create/update sets; metadata merges key by key, "" unsets a key."""
    changes: dict[str, Any] = {}
    references = _REFERENCES | (_CREATE_ONLY if creating else _UPDATE_ONLY)
    for name, value in params.items():
        if name in _UNSERVED or (creating and name == "tax_id_data"):
            continue
        if name in references:
            raise ParamError(f"No such {references[name]}: '{value}'", name, "resource_missing")
        if name not in CUSTOMER_FIELDS:
            raise ParamError(f"Received unknown parameter: {name}", name, "parameter_unknown")
        if name == "metadata":
            changes["metadata"] = _merge_metadata(current.get("metadata") or {}, value)
        elif name in ("balance", "next_invoice_sequence"):
            changes[name] = _integer_param(name, value)
        elif name == "invoice_settings":
            changes[name] = _invoice_settings(current.get("invoice_settings") or {}, value)
        elif name == "email" and value and ("@" not in value or " " in value):
            raise ParamError(f"Invalid email address: {value}", "email", "email_invalid")
        else:
            changes[name] = value if value != "" else None
    return changes


def _invoice_settings(current: dict[str, Any], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParamError("Invalid object", "invoice_settings", "parameter_invalid_empty")
    unknown = set(value) - {"custom_fields", "default_payment_method", "footer", "rendering_options"}
    if unknown:
        name = f"invoice_settings[{min(unknown)}]"
        raise ParamError(f"Received unknown parameter: {name}", name, "parameter_unknown")
    if value.get("default_payment_method"):
        method = value["default_payment_method"]
        raise ParamError(
            f"No such PaymentMethod: '{method}'",
            "invoice_settings[default_payment_method]",
            "resource_missing",
        )
    base = {"custom_fields": None, "default_payment_method": None, "footer": None, "rendering_options": None}
    return {**base, **current, **{key: text if text != "" else None for key, text in value.items()}}


def _merge_metadata(current: dict[str, Any], value: Any) -> dict[str, Any]:
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise ParamError("Invalid object", "metadata", "parameter_invalid_empty")
    merged = {**current, **value}
    return {key: text for key, text in merged.items() if text != ""}


def _integer_param(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ParamError(f"Invalid integer: {value}", name, "parameter_invalid_integer") from None
