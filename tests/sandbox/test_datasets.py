"""Datasets by index: deterministic, ordered, mutable between runs without materialising the stream."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

from integrations_sandbox.emulator.data import BASE_TIME, GROUP, Dataset, unit
from integrations_sandbox.emulator.faults import FaultProfile, Faults

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_base_rows_share_timestamps_in_groups_and_rise_with_the_index() -> None:
    data = Dataset("s/x", size=10)
    stamps = [row.ts for row in data.by_index()]
    assert stamps[:GROUP] == [BASE_TIME] * GROUP
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == -(-10 // GROUP)


def test_by_timestamp_starts_at_an_inclusive_lower_bound() -> None:
    data = Dataset("s/x", size=30)
    since = data.base_ts(10)
    rows = list(data.by_timestamp(since))
    assert rows[0].ts == since
    assert {r.index for r in rows} == {i for i in range(30) if data.base_ts(i) >= since}


def test_mutations_are_deterministic_and_reordered_by_timestamp() -> None:
    first, second = Dataset("s/x", size=100, seed=7), Dataset("s/x", size=100, seed=7)
    a = first.mutate(update=5, insert=3, delete=2, now=NOW)
    b = second.mutate(update=5, insert=3, delete=2, now=NOW)
    assert a == b
    assert len(a["updated"]) == 5 and a["inserted"] == [100, 101, 102] and len(a["deleted"]) == 2
    assert set(a["updated"]).isdisjoint(a["deleted"])

    ordered = list(first.by_timestamp())
    assert [(r.ts, r.index) for r in ordered] == sorted((r.ts, r.index) for r in ordered)
    assert len(ordered) == 103 - 2
    assert first.live_count() == 101
    changed = {r.index for r in ordered if r.ts >= NOW}
    assert changed == set(a["updated"]) | set(a["inserted"])
    deleted = [r for r in first.by_timestamp(include_deleted=True) if r.deleted]
    assert sorted(r.index for r in deleted) == a["deleted"]
    assert all(first.row(i).version == 1 for i in a["updated"])  # type: ignore[union-attr]


def test_same_timestamp_mutation_gives_every_change_one_time() -> None:
    data = Dataset("s/x", size=50, seed=1)
    changed = data.mutate(update=8, same_timestamp=True, now=NOW)
    assert {data.row(i).ts for i in changed["updated"]} == {NOW}  # type: ignore[union-attr]
    spread = Dataset("s/x", size=50, seed=1).mutate(update=8, now=NOW)
    assert len(spread["updated"]) == 8


def test_a_million_rows_stream_in_constant_memory() -> None:
    data = Dataset("s/big", size=1_000_000)
    data.mutate(update=100, now=NOW)
    since = BASE_TIME + timedelta(days=100)
    tracemalloc.start()
    count = sum(1 for _ in data.by_timestamp(since))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = data.first_index_at(since)
    untouched_after_start = (1_000_000 - start) - sum(1 for i in data.changes if i >= start)
    assert count == untouched_after_start + len(data.changes)
    assert peak < 5 * 1024 * 1024


def test_unit_is_deterministic_and_spread() -> None:
    values = [unit(3, "stream", i) for i in range(10_000)]
    assert values == [unit(3, "stream", i) for i in range(10_000)]
    assert 0.45 < sum(values) / len(values) < 0.55
    assert unit(3, "stream", 1) != unit(4, "stream", 1)


def test_fault_decisions_are_reproducible_from_the_seed() -> None:
    def run(seed: int) -> list[str | None]:
        faults = Faults()
        faults.set_profile("sys", FaultProfile(seed=seed, rate_429=0.1, rate_5xx=0.1, rate_reset=0.05))
        return [faults.request_fault("sys", n) for n in range(1, 2001)]

    first = run(42)
    assert first == run(42)
    assert first != run(43)
    share = {kind: first.count(kind) / len(first) for kind in ("429", "5xx", "reset")}
    assert 0.07 < share["429"] < 0.13 and 0.07 < share["5xx"] < 0.13 and 0.03 < share["reset"] < 0.07


def test_poison_and_write_outcomes_depend_on_the_record_not_the_call_order() -> None:
    faults = Faults()
    faults.set_profile(
        "sys", FaultProfile(seed=5, poison_rate=0.01, write_permanent_rate=0.05, write_transient_rate=0.2)
    )
    poison = [i for i in range(10_000) if faults.is_poison("sys", "stream", i)]
    assert 60 < len(poison) < 140
    assert poison == [i for i in range(10_000) if faults.is_poison("sys", "stream", i)]

    outcomes = {f"k{i}": faults.write_outcome("sys", "accounts", f"k{i}") for i in range(2000)}
    permanent = {k for k, v in outcomes.items() if v == "permanent"}
    transient = {k for k, v in outcomes.items() if v == "transient"}
    assert 50 < len(permanent) < 150 and 300 < len(transient) < 500
    assert all(faults.write_outcome("sys", "accounts", k) == "permanent" for k in permanent)
    retried = [faults.write_outcome("sys", "accounts", k) for k in transient]
    assert retried.count("ok") > len(transient) * 0.6
    assert faults.snapshot()["writes"]["sys/accounts"]["k0"] >= 1

    accepted = faults.snapshot()["accepted"]["sys/accounts"]
    let_through = {k for k, v in outcomes.items() if v == "ok"}
    let_through |= {k for k, v in zip(transient, retried, strict=True) if v == "ok"}
    assert {k for k, n in accepted.items() if n} == let_through and set(accepted.values()) == {1}
    faults.rolled_back("sys", "accounts", "k0" if "k0" in let_through else min(let_through))
    assert sorted(faults.snapshot()["accepted"]["sys/accounts"].values())[0] == 0


def test_fault_profile_rejects_unknown_settings_and_bad_rates() -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown fault settings"):
        FaultProfile.from_json({"rate_of_doom": 1})
    with pytest.raises(ValueError, match="rate_429"):
        FaultProfile.from_json({"rate_429": 2})
    merged = FaultProfile.from_json({"rate_5xx": 0.5}, FaultProfile(seed=9))
    assert merged.seed == 9 and merged.rate_5xx == 0.5
