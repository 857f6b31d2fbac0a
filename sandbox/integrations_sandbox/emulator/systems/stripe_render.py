"""Stripe objects rendered from dataset rows: ids whose text order is the index order, realistic fields.

An id is `<prefix>_<index in 6 base-62 digits><8 base-62 check characters>`, so comparing two ids of one
type compares their indexes, a cursor id decodes to a position in O(1), and a made-up id is refused.
Every field value comes from (seed, stream, index) for what never changes and (seed, stream, index,
version) for what an update changes, so the same seed renders the same data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations_sandbox.emulator.data import Row

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # in ASCII order
INDEX_DIGITS = 6
CHECK_DIGITS = 8
API_VERSION = "2024-06-20"
LATEST_VERSION = "2026-10-28.endive"
VERSIONS = (API_VERSION, LATEST_VERSION)
"""The API versions whose shapes the emulator serves: the one the connector pins (the default) and the
`stripe` library's default. Any other version is refused, as Stripe refuses a version it does not know."""

FIRST_NAMES = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Ken",
    "Margaret",
    "Dennis",
    "Hedy",
    "Tim",
    "Katherine",
    "Linus",
    "Sophie",
    "Guido",
    "Anita",
    "Bjarne",
]
LAST_NAMES = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Perlman",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Torvalds",
    "Wilson",
    "van Rossum",
    "Borg",
    "Stroustrup",
]
CITIES = [
    ("San Francisco", "CA", "94107"),
    ("New York", "NY", "10001"),
    ("Austin", "TX", "78701"),
    ("Seattle", "WA", "98101"),
    ("Chicago", "IL", "60601"),
    ("Boston", "MA", "02108"),
]
TIERS = ["bronze", "silver", "gold", "platinum"]
BASE_PRICE_TIME = datetime(2023, 1, 1, tzinfo=UTC)


def encode(number: int, width: int) -> str:
    """`number` in base 62, zero-padded to `width`, so equal-width texts sort as the numbers do."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    if number:
        raise ValueError(f"number too large for {width} base-62 digits")
    return "".join(reversed(digits))


def decode(text: str) -> int | None:
    number = 0
    for char in text:
        digit = ALPHABET.find(char)
        if digit < 0:
            return None
        number = number * 62 + digit
    return number


def revision(row: Row) -> dict[str, str]:
    """Metadata that moves with every update, so each `*.updated` event changes the object visibly."""
    return {"sandbox_revision": str(row.version)} if row.version else {}


class Draw:
    """Deterministic values for one record (version): sixteen numbers in [0, 1) from one hash."""

    def __init__(self, *parts: object) -> None:
        self.digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=64).digest()

    def unit(self, slot: int) -> float:
        return int.from_bytes(self.digest[slot * 4 : slot * 4 + 4], "big") / 2**32

    def pick(self, slot: int, options: list[Any]) -> Any:
        return options[int(self.unit(slot) * len(options))]

    def between(self, slot: int, low: int, high: int) -> int:
        return low + int(self.unit(slot) * (high - low + 1))


class Ids:
    """Stripe-looking ids that encode a record's index and carry a seeded check."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def make(self, prefix: str, index: int) -> str:
        return f"{prefix}_{encode(index, INDEX_DIGITS)}{self._check(prefix, index)}"

    def index_of(self, prefix: str, object_id: str) -> int | None:
        """The index an id names, or None if it is not an id this emulator issued."""
        head = f"{prefix}_"
        if not object_id.startswith(head) or len(object_id) != len(head) + INDEX_DIGITS + CHECK_DIGITS:
            return None
        index = decode(object_id[len(head) : len(head) + INDEX_DIGITS])
        if index is None or object_id[len(head) + INDEX_DIGITS :] != self._check(prefix, index):
            return None
        return index

    def _check(self, prefix: str, index: int) -> str:
        digest = hashlib.blake2b(f"{self.seed}:{prefix}:{index}".encode(), digest_size=8).digest()
        return encode(int.from_bytes(digest, "big") % 62**CHECK_DIGITS, CHECK_DIGITS)


def unix(row_time: Any) -> int:
    return int(row_time.timestamp())


@dataclass(frozen=True)
class Kind:
    """One listable Stripe resource: its dataset, id prefix and the object its events name."""

    stream: str
    object: str
    prefix: str
    event_object: str
    default_size: int
    number: int
    deletable: bool


KINDS = {
    kind.stream: kind
    for kind in (
        Kind("customers", "customer", "cus", "customer", 2000, 0, True),
        Kind("charges", "charge", "ch", "charge", 5000, 1, False),
        Kind("invoices", "invoice", "in", "invoice", 2000, 2, True),
        Kind("subscriptions", "subscription", "sub", "customer.subscription", 1000, 3, True),
    )
}
KIND_BY_NUMBER = {kind.number: kind for kind in KINDS.values()}


class Renderer:
    """Renders rows of every Stripe stream; `base_size`, `is_poison` and `written` come from the live state.

    References to other objects (a charge's customer) point into the other stream's generated rows, so
    they stay put when records are inserted or deleted and change only when that stream is resized.
    """

    def __init__(
        self,
        seed: int,
        base_size: Callable[[str], int],
        is_poison: Callable[[str, int], bool],
        written: Callable[[str], dict[str, Any] | None],
    ) -> None:
        self.seed = seed
        self.ids = Ids(seed)
        self.base_size = base_size
        self.is_poison = is_poison
        self.written = written
        self._renderers: dict[str, Callable[[Row, Draw, Draw], dict[str, Any]]] = {
            "customers": self._customer,
            "charges": self._charge,
            "invoices": self._invoice,
            "subscriptions": self._subscription,
        }

    def render(self, stream: str, row: Row, version: str = API_VERSION) -> dict[str, Any]:
        """The record as `version` shapes it; a deleted subscription is canceled, a deleted invoice was a
        draft (Stripe deletes only drafts and keeps canceled subscriptions retrievable)."""
        kind = KINDS[stream]
        fixed = Draw(self.seed, stream, row.index)
        changing = Draw(self.seed, stream, row.index, row.version)
        record = self._renderers[stream](row, fixed, changing)
        if stream == "customers":
            record.update(self.written(record["id"]) or {})
        if self.is_poison(stream, row.index):
            _poison(kind, record)
        return reshape(record, version)

    def find(self, object_id: str) -> tuple[Kind, int] | None:
        """The kind and index of an id this emulator issued, for expansions."""
        prefix = object_id.partition("_")[0]
        for kind in KINDS.values():
            if kind.prefix == prefix and (index := self.ids.index_of(prefix, object_id)) is not None:
                return kind, index
        return None

    def reference(self, stream: str, draw: Draw, slot: int) -> str | None:
        count = self.base_size(stream)
        return self.ids.make(KINDS[stream].prefix, int(draw.unit(slot) * count)) if count else None

    def _customer(self, row: Row, fixed: Draw, changing: Draw) -> dict[str, Any]:
        first, last = fixed.pick(0, FIRST_NAMES), fixed.pick(1, LAST_NAMES)
        city, state, postal = fixed.pick(2, CITIES)
        balance = changing.pick(0, [0, 0, 0, -changing.between(1, 100, 5000), changing.between(2, 100, 900)])
        return {
            "id": self.ids.make("cus", row.index),
            "object": "customer",
            "address": {
                "city": city,
                "country": "US",
                "line1": f"{fixed.between(3, 1, 999)} Market St",
                "line2": None,
                "postal_code": postal,
                "state": state,
            },
            "balance": balance,
            "created": unix(row.created),
            "currency": "usd",
            "default_source": None,
            "delinquent": changing.unit(3) < 0.05,
            "description": f"{first} {last}, {changing.pick(4, TIERS)} plan",
            "discount": None,
            "email": f"{first.lower()}.{last.lower().replace(' ', '')}.{row.index}@example.com",
            "invoice_prefix": fixed.digest[:4].hex().upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": {"crm_id": f"CRM-{row.index:07d}", "tier": changing.pick(4, TIERS)},
            "name": f"{first} {last}",
            "next_invoice_sequence": 1 + row.version,
            "phone": f"+1415555{changing.between(5, 0, 9999):04d}",
            "preferred_locales": ["en"],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }

    def _charge(self, row: Row, fixed: Draw, changing: Draw) -> dict[str, Any]:
        amount = fixed.between(0, 500, 250_000)
        status = fixed.pick(1, ["succeeded"] * 8 + ["failed", "pending"])
        paid = status == "succeeded"
        refunded = amount if paid and row.version and changing.unit(0) < 0.5 else 0
        return {
            "id": self.ids.make("ch", row.index),
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if paid else 0,
            "amount_refunded": refunded,
            "balance_transaction": self.ids.make("txn", row.index) if paid else None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": "SANDBOX* EMULATOR",
            "captured": paid,
            "created": unix(row.created),
            "currency": fixed.pick(2, ["usd", "usd", "usd", "eur", "gbp"]),
            "customer": self.reference("customers", fixed, 3),
            "description": f"Order {row.index:08d}",
            "disputed": False,
            "failure_code": "card_declined" if status == "failed" else None,
            "failure_message": "Your card was declined." if status == "failed" else None,
            "invoice": None,
            "livemode": False,
            "metadata": {"order_id": f"ORD-{row.index:08d}", **revision(row)},
            "outcome": {
                "network_status": "approved_by_network" if paid else "declined_by_network",
                "risk_level": "normal",
                "type": "authorized" if paid else "issuer_declined",
            },
            "paid": paid,
            "payment_intent": self.ids.make("pi", row.index),
            "payment_method": self.ids.make("pm", row.index),
            "receipt_email": None,
            "refunded": bool(refunded),
            "status": status,
        }

    def _invoice(self, row: Row, fixed: Draw, changing: Draw) -> dict[str, Any]:
        due = fixed.between(0, 1000, 100_000)
        status = changing.pick(1, ["paid"] * 6 + ["open", "draft", "void", "uncollectible"])
        status = "draft" if row.deleted else status
        paid = due if status == "paid" else 0
        created = unix(row.created)
        object_id = self.ids.make("in", row.index)
        return {
            "id": object_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Sandbox Inc.",
            "amount_due": due,
            "amount_paid": paid,
            "amount_remaining": due - paid,
            "amount_shipping": 0,
            "attempt_count": 1 if status != "draft" else 0,
            "attempted": status != "draft",
            "automatic_tax": {"enabled": False, "status": None},
            "billing_reason": fixed.pick(2, ["subscription_cycle", "subscription_create", "manual"]),
            "charge": None,
            "collection_method": "charge_automatically",
            "created": created,
            "currency": "usd",
            "customer": self.reference("customers", fixed, 3),
            "default_tax_rates": [],
            "due_date": None,
            "issuer": {"type": "self"},
            "lines": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/invoices/{object_id}/lines",
            },
            "livemode": False,
            "metadata": revision(row),
            "number": f"SBX-{row.index + 1:06d}" if status != "draft" else None,
            "paid": status == "paid",
            "paid_out_of_band": False,
            "payment_intent": None,
            "payment_settings": {
                "default_mandate": None,
                "payment_method_options": None,
                "payment_method_types": None,
            },
            "period_end": created,
            "period_start": created - int(timedelta(days=30).total_seconds()),
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "rendering": None,
            "starting_balance": 0,
            "status": status,
            "status_transitions": {
                "finalized_at": None if status == "draft" else created,
                "marked_uncollectible_at": created if status == "uncollectible" else None,
                "paid_at": created if status == "paid" else None,
                "voided_at": created if status == "void" else None,
            },
            "subscription": self.reference("subscriptions", fixed, 4),
            "subtotal": due,
            "tax": None,
            "total": due,
            "total_tax_amounts": [],
        }

    def _subscription(self, row: Row, fixed: Draw, changing: Draw) -> dict[str, Any]:
        created = unix(row.created)
        object_id = self.ids.make("sub", row.index)
        status = changing.pick(0, ["active"] * 6 + ["trialing", "past_due", "canceled"])
        status = "canceled" if row.deleted else status
        unit_amount = fixed.pick(2, [900, 2900, 9900])
        price = {
            "id": self.ids.make("price", row.index % 12),
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": unix(BASE_PRICE_TIME),
            "currency": "usd",
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": self.ids.make("prod", row.index % 12),
            "recurring": {
                "aggregate_usage": None,
                "interval": "month",
                "interval_count": 1,
                "usage_type": "licensed",
            },
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        item = {
            "id": self.ids.make("si", row.index),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": created,
            "discounts": [],
            "metadata": revision(row),
            "price": price,
            "quantity": fixed.between(1, 1, 20),
            "subscription": object_id,
            "tax_rates": [],
        }
        period = int(timedelta(days=30).total_seconds())
        return {
            "id": object_id,
            "object": "subscription",
            "automatic_tax": {"enabled": False},
            "billing_cycle_anchor": created,
            "billing_cycle_anchor_config": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": unix(row.ts) if status == "canceled" else None,
            "collection_method": "charge_automatically",
            "created": created,
            "currency": "usd",
            "current_period_end": created + period,
            "current_period_start": created,
            "customer": self.reference("customers", fixed, 3),
            "default_payment_method": None,
            "discount": None,
            "discounts": [],
            "ended_at": unix(row.ts) if status == "canceled" else None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": {
                "object": "list",
                "data": [item],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={object_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": {},
            "start_date": created,
            "status": status,
            "trial_end": None,
            "trial_start": None,
        }


_REMOVED_IN_LATEST = {
    "charge": ("invoice",),
    "invoice": (
        "charge",
        "discount",
        "paid",
        "paid_out_of_band",
        "payment_intent",
        "tax",
        "total_tax_amounts",
    ),
    "subscription": ("current_period_end", "current_period_start", "discount"),
}


def reshape(record: dict[str, Any], version: str) -> dict[str, Any]:
    """A record rendered in the pinned version's shape, in `version`'s shape.

    From 2025-03-31 (basil) a subscription's billing period is on its items, an invoice names its
    subscription under `parent`, and the fields listed in `_REMOVED_IN_LATEST` are gone.
    """
    if version == API_VERSION:
        return record
    kind = record.get("object")
    shaped = {name: value for name, value in record.items() if name not in _REMOVED_IN_LATEST.get(kind, ())}
    if kind == "subscription":
        period = {name: record[name] for name in ("current_period_start", "current_period_end")}
        items = record["items"]
        shaped["items"] = {**items, "data": [{**item, **period} for item in items["data"]]}
    elif kind == "invoice":
        subscription = record.get("subscription")
        shaped["parent"] = (
            None
            if subscription is None
            else {
                "quote_details": None,
                "subscription_details": {"metadata": None, "subscription": subscription},
                "type": "subscription_details",
            }
        )
    return shaped


def _poison(kind: Kind, record: dict[str, Any]) -> None:
    """A schema-violating value, as a buggy upstream integration might leave behind."""
    if kind.stream == "customers":
        record["balance"] = f"{record['balance'] / 100:.2f}"
    elif kind.stream == "charges":
        record["amount"] = f"{record['amount'] / 100:.2f}"
        record["currency"] = None
    elif kind.stream == "invoices":
        record["amount_due"] = f"{record['amount_due'] / 100:.2f}"
        record["currency"] = None
    else:
        record["status"] = None
