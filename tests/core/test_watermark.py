"""Unit tests for core.watermark: composite cursors, timestamp parsing and half-open windows."""

from __future__ import annotations

import itertools
import json
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_integrations.core.errors import ConfigError, TransientError
from airflow_provider_integrations.core.watermark import (
    Cursor,
    CursorTracker,
    ReadMark,
    Window,
    parse_timestamp,
    require_aware,
    window_after,
)

T0 = datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))
MINUS_5 = timezone(timedelta(hours=-5))
NAIVE = datetime(2024, 3, 5, 10, 20, 30)


# --------------------------------------------------------------------------------------------------
# require_aware / parse_timestamp
# --------------------------------------------------------------------------------------------------


class TestRequireAware:
    def test_converts_to_utc(self) -> None:
        local = T0.astimezone(PLUS_2)
        result = require_aware(local, "x")
        assert result == T0
        assert result.utcoffset() == timedelta(0)
        assert result.hour == T0.hour

    def test_naive_rejected_and_named(self) -> None:
        with pytest.raises(ConfigError, match="start date must be timezone-aware"):
            require_aware(NAIVE, "start date")


class TestParseTimestamp:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-03-05T10:20:30Z", T0),
            ("2024-03-05T10:20:30+00:00", T0),
            ("2024-03-05T10:20:30+0000", T0),
            ("2024-03-05T10:20:30-00:00", T0),
            ("2024-03-05T12:20:30+02:00", T0),
            ("2024-03-05T12:20:30+0200", T0),
            ("2024-03-05T05:20:30-0500", T0),
            ("2024-03-05T08:50:30-0130", T0),
            ("2024-03-05T11:50:30+0130", T0),
            ("2024-03-05T10:20:30.000+0000", T0),  # Salesforce SystemModstamp
            ("2024-03-05T10:20:30.123456Z", T0.replace(microsecond=123456)),
            ("2024-03-05T10:20:30.5+00:00", T0.replace(microsecond=500000)),
            ("2024-03-05 10:20:30Z", T0),
            ("  2024-03-05T10:20:30Z\n", T0),
            ("2024-03-05T00:00:00Z", T0.replace(hour=0, minute=0, second=0)),
        ],
    )
    def test_iso_strings(self, text: str, expected: datetime) -> None:
        result = parse_timestamp(text)
        assert result == expected
        assert result.tzinfo == UTC

    @pytest.mark.parametrize(
        "moment",
        [
            datetime(1970, 1, 1, tzinfo=UTC),
            T0,
            T0.replace(microsecond=250000),
            datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
            datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC),
        ],
    )
    def test_unix_seconds(self, moment: datetime) -> None:
        seconds = moment.timestamp()
        from_float = parse_timestamp(seconds)
        assert from_float == moment
        assert from_float.tzinfo == UTC
        if seconds.is_integer():
            from_int = parse_timestamp(int(seconds))
            assert from_int == moment
            assert from_int.tzinfo == UTC

    def test_epoch_zero(self) -> None:
        assert parse_timestamp(0) == datetime(1970, 1, 1, tzinfo=UTC)

    def test_aware_datetime_is_converted(self) -> None:
        result = parse_timestamp(T0.astimezone(MINUS_5))
        assert result == T0
        assert result.tzinfo == UTC

    def test_naive_datetime_rejected(self) -> None:
        with pytest.raises(ConfigError, match="timezone-aware"):
            parse_timestamp(NAIVE)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "   ",
            "Z",
            "not a timestamp",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-03-05T25:00:00Z",
            "2024-03-05T10:20:30+25:00",
            "2024-03-05T10:20:30+2500",
            "1709634030",
            "yesterday",
            "2024-03-05T10:20:30ZZ",
        ],
    )
    def test_bad_strings(self, text: str) -> None:
        with pytest.raises(ConfigError, match="cannot parse"):
            parse_timestamp(text, "updated_at")

    @pytest.mark.parametrize("text", ["2024-03-05T10:20:30", "2024-03-05", "2024-03-05T10:20:30.000"])
    def test_naive_strings_rejected(self, text: str) -> None:
        with pytest.raises(ConfigError, match="timezone-aware"):
            parse_timestamp(text)

    @pytest.mark.parametrize("value", [None, True, False, [2024], {"ts": 1}, Decimal("1.5"), b"2024"])
    def test_wrong_types(self, value: Any) -> None:
        with pytest.raises(ConfigError, match=f"got {type(value).__name__}"):
            parse_timestamp(value)

    @pytest.mark.parametrize("value", [1e20, -1e20, 1.7e15, math.nan, math.inf, -math.inf])
    def test_out_of_range_numbers(self, value: float) -> None:
        with pytest.raises(ConfigError, match="Unix timestamp"):
            parse_timestamp(value, "modified")

    def test_error_names_the_field(self) -> None:
        with pytest.raises(ConfigError) as info:
            parse_timestamp("garbage", "created_at")
        assert str(info.value).startswith("created_at: ")
        assert "'garbage'" in str(info.value)


# --------------------------------------------------------------------------------------------------
# Cursor
# --------------------------------------------------------------------------------------------------


class TestCursor:
    @pytest.mark.parametrize(
        ("lower", "higher"),
        [
            (Cursor(T0, "a"), Cursor(T0, "b")),
            (Cursor(T0, "zzz"), Cursor(T0 + timedelta(microseconds=1), "aaa")),
            (Cursor(T0, "001"), Cursor(T0, "002")),
            (Cursor(T0 - timedelta(days=1), "z"), Cursor(T0, "a")),
            (Cursor(T0, "a"), Cursor(T0.astimezone(PLUS_2), "b")),
        ],
    )
    def test_ordering_by_ts_then_id(self, lower: Cursor, higher: Cursor) -> None:
        assert lower < higher
        assert higher > lower
        assert lower != higher
        assert max(lower, higher) is higher
        assert sorted([higher, lower]) == [lower, higher]

    def test_sorting_many(self) -> None:
        rng = random.Random(7)
        cursors = [Cursor(T0 + timedelta(seconds=s), i) for s in range(5) for i in ["a", "b", "c", "0", "Z"]]
        shuffled = cursors[:]
        rng.shuffle(shuffled)
        ordered = sorted(shuffled)
        assert [(c.ts, c.id) for c in ordered] == sorted((c.ts, c.id) for c in cursors)

    def test_timestamp_normalized_to_utc(self) -> None:
        local = Cursor(T0.astimezone(PLUS_2), "x")
        assert local.ts.tzinfo == UTC
        assert local.ts.hour == T0.hour
        assert local == Cursor(T0, "x")
        assert hash(local) == hash(Cursor(T0, "x"))

    def test_naive_timestamp_rejected(self) -> None:
        with pytest.raises(ConfigError, match="cursor timestamp must be timezone-aware"):
            Cursor(NAIVE, "x")

    def test_is_frozen(self) -> None:
        cursor = Cursor(T0, "x")
        with pytest.raises(AttributeError):
            cursor.id = "y"  # type: ignore[misc]

    def test_to_json(self) -> None:
        data = Cursor(T0.astimezone(MINUS_5), "0015g00000ABC").to_json()
        assert data == {"ts": T0.isoformat(), "id": "0015g00000ABC"}
        assert data["ts"].endswith("+00:00")

    @pytest.mark.parametrize(
        "cursor",
        [
            Cursor(T0, "a"),
            Cursor(T0.replace(microsecond=1), "001"),
            Cursor(T0.replace(microsecond=999999), ""),
            Cursor(T0.astimezone(PLUS_2), "cus_Nk2"),
            Cursor(datetime(1970, 1, 1, tzinfo=UTC), "with 'quotes' and ünïcode"),
            Cursor(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "max"),
        ],
    )
    def test_json_round_trip(self, cursor: Cursor) -> None:
        assert Cursor.from_json(cursor.to_json()) == cursor
        assert Cursor.from_json(json.loads(json.dumps(cursor.to_json()))) == cursor

    def test_from_json_accepts_other_timestamp_forms(self) -> None:
        expected = Cursor(T0, "42")
        assert Cursor.from_json({"ts": "2024-03-05T10:20:30Z", "id": "42"}) == expected
        assert Cursor.from_json({"ts": "2024-03-05T10:20:30.000+0000", "id": "42"}) == expected
        assert Cursor.from_json({"ts": int(T0.timestamp()), "id": 42}) == expected

    def test_from_json_ignores_extra_keys(self) -> None:
        assert Cursor.from_json({"ts": T0.isoformat(), "id": "a", "v": 2}) == Cursor(T0, "a")

    @pytest.mark.parametrize(
        ("data", "missing"),
        [({"id": "a"}, "ts"), ({"ts": T0.isoformat()}, "id"), ({}, "ts")],
    )
    def test_from_json_missing_key(self, data: dict[str, Any], missing: str) -> None:
        with pytest.raises(ConfigError, match=f"missing '{missing}'"):
            Cursor.from_json(data)

    def test_from_json_naive_timestamp_rejected(self) -> None:
        with pytest.raises(ConfigError, match="timezone-aware"):
            Cursor.from_json({"ts": "2024-03-05T10:20:30", "id": "a"})

    def test_from_json_bad_timestamp_rejected(self) -> None:
        with pytest.raises(ConfigError, match="cursor ts"):
            Cursor.from_json({"ts": "soon", "id": "a"})

    @pytest.mark.parametrize(
        ("ts", "record_id", "passed"),
        [
            (T0, "b", True),
            (T0, "a", False),
            (T0, "A", False),
            (T0 + timedelta(microseconds=1), "", True),
            (T0 - timedelta(microseconds=1), "zzzz", False),
            (T0.astimezone(PLUS_2), "b", True),
            (T0.astimezone(MINUS_5), "a", False),
        ],
    )
    def test_is_passed_by(self, ts: datetime, record_id: str, passed: bool) -> None:
        assert Cursor(T0, "a").is_passed_by(ts, record_id) is passed

    def test_is_passed_by_matches_ordering(self) -> None:
        stamps = [T0 - timedelta(seconds=1), T0, T0 + timedelta(seconds=1)]
        ids = ["a", "m", "z"]
        for (ts_a, id_a), (ts_b, id_b) in itertools.product(itertools.product(stamps, ids), repeat=2):
            cursor, record = Cursor(ts_a, id_a), Cursor(ts_b, id_b)
            assert cursor.is_passed_by(ts_b, id_b) == (record > cursor)

    def test_is_passed_by_rejects_naive(self) -> None:
        with pytest.raises(ConfigError, match="record timestamp"):
            Cursor(T0, "a").is_passed_by(NAIVE, "b")


class TestCursorTracker:
    def test_starts_empty(self) -> None:
        assert CursorTracker().high is None

    def test_keeps_start_when_nothing_observed(self) -> None:
        start = Cursor(T0, "a")
        assert CursorTracker(start).high is start

    @pytest.mark.parametrize("seed", range(10))
    def test_keeps_the_max_whatever_the_order(self, seed: int) -> None:
        observations = [
            (T0 + timedelta(seconds=s), record_id) for s in range(4) for record_id in ["a", "b", "q", "B"]
        ]
        random.Random(seed).shuffle(observations)
        tracker = CursorTracker()
        for ts, record_id in observations:
            tracker.observe(ts, record_id)
        assert tracker.high == max(Cursor(ts, i) for ts, i in observations)
        assert tracker.high == Cursor(T0 + timedelta(seconds=3), "q")

    def test_running_max(self) -> None:
        tracker = CursorTracker()
        tracker.observe(T0, "b")
        assert tracker.high == Cursor(T0, "b")
        tracker.observe(T0, "a")  # same ts, lower id: ignored
        assert tracker.high == Cursor(T0, "b")
        tracker.observe(T0, "c")  # same ts, higher id: taken
        assert tracker.high == Cursor(T0, "c")
        tracker.observe(T0 - timedelta(hours=1), "zzz")
        assert tracker.high == Cursor(T0, "c")
        tracker.observe((T0 + timedelta(seconds=1)).astimezone(PLUS_2), "0")
        assert tracker.high == Cursor(T0 + timedelta(seconds=1), "0")
        assert tracker.high.ts.tzinfo == UTC

    def test_start_higher_than_everything_is_kept(self) -> None:
        start = Cursor(T0 + timedelta(days=1), "a")
        tracker = CursorTracker(start)
        for s in range(5):
            tracker.observe(T0 + timedelta(hours=s), "z")
        assert tracker.high == start

    def test_start_lower_is_replaced(self) -> None:
        tracker = CursorTracker(Cursor(T0, "m"))
        tracker.observe(T0, "n")
        assert tracker.high == Cursor(T0, "n")

    def test_observe_rejects_naive(self) -> None:
        tracker = CursorTracker()
        with pytest.raises(ConfigError):
            tracker.observe(NAIVE, "a")
        assert tracker.high is None


# --------------------------------------------------------------------------------------------------
# Window
# --------------------------------------------------------------------------------------------------

DAY = Window(T0, T0 + timedelta(days=1))


class TestWindow:
    @pytest.mark.parametrize(
        ("ts", "inside"),
        [
            (T0, True),
            (T0 - timedelta(microseconds=1), False),
            (T0 + timedelta(hours=12), True),
            (T0 + timedelta(days=1) - timedelta(microseconds=1), True),
            (T0 + timedelta(days=1), False),
            (T0 + timedelta(days=2), False),
            (T0.astimezone(PLUS_2), True),
            ((T0 + timedelta(days=1)).astimezone(MINUS_5), False),
        ],
    )
    def test_contains_is_half_open(self, ts: datetime, inside: bool) -> None:
        assert DAY.contains(ts) is inside

    def test_contains_rejects_naive(self) -> None:
        with pytest.raises(ConfigError, match="timezone-aware"):
            DAY.contains(NAIVE)

    def test_bounds_normalized_to_utc(self) -> None:
        window = Window(T0.astimezone(PLUS_2), (T0 + timedelta(hours=1)).astimezone(MINUS_5))
        assert window.start.tzinfo == UTC
        assert window.end.tzinfo == UTC
        assert window == Window(T0, T0 + timedelta(hours=1))

    @pytest.mark.parametrize("end", [T0, T0 - timedelta(microseconds=1), T0 - timedelta(days=3)])
    def test_end_not_after_start_rejected(self, end: datetime) -> None:
        with pytest.raises(ConfigError, match="must be after start"):
            Window(T0, end)

    def test_equal_instants_in_different_zones_rejected(self) -> None:
        with pytest.raises(ConfigError, match="must be after start"):
            Window(T0, T0.astimezone(PLUS_2))

    def test_naive_bounds_rejected(self) -> None:
        with pytest.raises(ConfigError, match="window start"):
            Window(NAIVE, T0 + timedelta(days=1))
        with pytest.raises(ConfigError, match="window end"):
            Window(T0 - timedelta(days=1), NAIVE)

    def test_smallest_window(self) -> None:
        window = Window(T0, T0 + timedelta(microseconds=1))
        assert window.contains(T0)
        assert not window.contains(window.end)

    @pytest.mark.parametrize(
        "lookback", [timedelta(0), timedelta(microseconds=1), timedelta(minutes=15), timedelta(days=30)]
    )
    def test_with_lookback(self, lookback: timedelta) -> None:
        wider = DAY.with_lookback(lookback)
        assert wider.start == DAY.start - lookback
        assert wider.end == DAY.end
        assert DAY.start == T0  # the original is untouched
        assert wider.contains(DAY.start - lookback)
        if lookback:
            assert not DAY.contains(DAY.start - lookback)

    @pytest.mark.parametrize("lookback", [timedelta(microseconds=-1), timedelta(hours=-1)])
    def test_negative_lookback_rejected(self, lookback: timedelta) -> None:
        with pytest.raises(ConfigError, match="lookback must not be negative"):
            DAY.with_lookback(lookback)

    @pytest.mark.parametrize(
        ("length", "step"),
        [
            (timedelta(days=1), timedelta(hours=1)),
            (timedelta(days=1), timedelta(hours=7)),
            (timedelta(days=1), timedelta(days=1)),
            (timedelta(days=1), timedelta(days=2)),
            (timedelta(hours=1), timedelta(minutes=59)),
            (timedelta(seconds=1), timedelta(microseconds=300000)),
            (timedelta(microseconds=5), timedelta(microseconds=1)),
            (timedelta(days=365), timedelta(days=30)),
            (timedelta(days=1, microseconds=1), timedelta(hours=6)),
        ],
    )
    def test_split_covers_exactly(self, length: timedelta, step: timedelta) -> None:
        window = Window(T0, T0 + length)
        parts = list(window.split(step))

        assert len(parts) == -(-length // step)
        assert parts[0].start == window.start
        assert parts[-1].end == window.end
        for before, after in itertools.pairwise(parts):
            assert before.end == after.start  # no gap, no overlap
            assert before.end - before.start == step  # only the last part may be shorter
        assert all(timedelta(0) < p.end - p.start <= step for p in parts)
        assert sum((p.end - p.start for p in parts), timedelta(0)) == length

    def test_split_every_instant_in_exactly_one_part(self) -> None:
        window = Window(T0, T0 + timedelta(hours=10))
        parts = list(window.split(timedelta(hours=3)))
        rng = random.Random(3)
        probes = [part.start for part in parts] + [part.end - timedelta(microseconds=1) for part in parts]
        probes += [window.start + timedelta(seconds=rng.uniform(0, 36000)) for _ in range(200)]
        for ts in probes:
            assert window.contains(ts)
            assert sum(part.contains(ts) for part in parts) == 1
        assert not any(part.contains(window.end) for part in parts)
        assert not any(part.contains(window.start - timedelta(microseconds=1)) for part in parts)

    def test_split_of_non_utc_window(self) -> None:
        window = Window(T0.astimezone(PLUS_2), (T0 + timedelta(hours=2)).astimezone(MINUS_5))
        parts = list(window.split(timedelta(hours=1)))
        assert parts == [
            Window(T0, T0 + timedelta(hours=1)),
            Window(T0 + timedelta(hours=1), T0 + timedelta(hours=2)),
        ]

    @pytest.mark.parametrize("step", [timedelta(0), timedelta(microseconds=-1), timedelta(days=-1)])
    def test_split_non_positive_step_rejected(self, step: timedelta) -> None:
        with pytest.raises(ConfigError, match="window step must be positive"):
            list(DAY.split(step))


# --------------------------------------------------------------------------------------------------
# mode="auto": the next window starts from what was read, never from a run's dates


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(minutes=15)


def test_nothing_read_before_means_a_full_read() -> None:
    assert window_after(None, interval_end=NOW, now=NOW, lookback=LOOKBACK) is None


def test_the_next_window_starts_at_the_latest_change_read_minus_the_lookback() -> None:
    mark = ReadMark(
        start=NOW - timedelta(hours=2),
        until=NOW - timedelta(hours=1),
        high=NOW - timedelta(hours=1, minutes=7),
    )
    window = window_after(mark, interval_end=NOW, now=NOW + timedelta(seconds=5), lookback=LOOKBACK)
    assert window == Window(NOW - timedelta(hours=1, minutes=22), NOW)


def test_a_run_dated_in_the_future_reads_up_to_now_and_the_next_run_carries_on_from_what_it_read() -> None:
    """The demo's bug: a run dated an hour ahead must not make the next window start an hour ahead."""
    full = ReadMark(start=None, until=NOW, high=NOW - timedelta(days=300))
    dated_ahead = window_after(full, interval_end=NOW + timedelta(hours=1), now=NOW, lookback=LOOKBACK)
    assert dated_ahead is not None and dated_ahead.end == NOW, "capped at now: nothing after now exists yet"
    changed_at = NOW - timedelta(minutes=1)
    assert dated_ahead.contains(changed_at)
    # That run read one change; the next one, also dated ahead and run a minute later, starts from it.
    read = ReadMark(start=dated_ahead.start, until=dated_ahead.end, high=changed_at)
    later = window_after(
        read, interval_end=NOW + timedelta(hours=2), now=NOW + timedelta(minutes=1), lookback=LOOKBACK
    )
    assert later == Window(changed_at - LOOKBACK, NOW + timedelta(minutes=1))


def test_a_record_dated_in_the_future_does_not_push_the_next_read_ahead() -> None:
    mark = ReadMark(start=None, until=NOW, high=NOW + timedelta(days=365))
    window = window_after(
        mark, interval_end=NOW + timedelta(hours=1), now=NOW + timedelta(hours=1), lookback=LOOKBACK
    )
    assert window == Window(NOW - LOOKBACK, NOW + timedelta(hours=1))


def test_a_window_that_read_nothing_starts_the_next_where_it_started_without_a_second_lookback() -> None:
    mark = ReadMark(start=NOW - timedelta(hours=3), until=NOW - timedelta(hours=1), high=None)
    window = window_after(mark, interval_end=NOW, now=NOW, lookback=LOOKBACK)
    assert window == Window(NOW - timedelta(hours=3), NOW)


def test_a_full_read_without_change_times_resumes_from_when_it_began() -> None:
    mark = ReadMark(start=None, until=NOW - timedelta(hours=1), high=None)
    assert window_after(mark, interval_end=NOW, now=NOW, lookback=LOOKBACK) == Window(
        NOW - timedelta(hours=1, minutes=15), NOW
    )


def test_a_run_without_a_data_interval_reads_up_to_now() -> None:
    mark = ReadMark(start=None, until=NOW - timedelta(hours=1), high=NOW - timedelta(hours=1))
    window = window_after(mark, interval_end=None, now=NOW, lookback=timedelta(0))
    assert window == Window(NOW - timedelta(hours=1), NOW)


def test_a_rerun_of_an_interval_gets_the_same_window() -> None:
    mark = ReadMark(start=None, until=NOW - timedelta(hours=2), high=NOW - timedelta(hours=2, minutes=3))
    first = window_after(mark, interval_end=NOW - timedelta(hours=1), now=NOW, lookback=LOOKBACK)
    again = window_after(
        mark, interval_end=NOW - timedelta(hours=1), now=NOW + timedelta(days=2), lookback=LOOKBACK
    )
    assert first == again


def test_an_interval_already_read_past_is_refused_naming_both_times() -> None:
    mark = ReadMark(start=None, until=NOW, high=NOW - timedelta(minutes=1))
    old_end = NOW - timedelta(days=3)
    with pytest.raises(ConfigError, match="already read") as error:
        window_after(mark, interval_end=old_end, now=NOW, lookback=LOOKBACK)
    assert old_end.isoformat() in str(error.value)
    assert (NOW - timedelta(minutes=16)).isoformat() in str(error.value)


def test_a_read_ahead_of_this_workers_clock_is_retried_not_read_as_an_empty_window() -> None:
    mark = ReadMark(start=None, until=NOW + timedelta(hours=1), high=NOW + timedelta(hours=1))
    with pytest.raises(TransientError, match="clocks"):
        window_after(mark, interval_end=NOW + timedelta(hours=2), now=NOW, lookback=LOOKBACK)


def test_read_marks_round_trip_through_json_and_refuse_bad_shapes() -> None:
    mark = ReadMark(start=None, until=NOW, high=NOW - timedelta(seconds=1))
    assert ReadMark.from_json(json.loads(json.dumps(mark.to_json()))) == mark
    for bad in (None, [], {}, {"until": 5}, {"until": "yesterday"}):
        with pytest.raises(ConfigError, match="read mark"):
            ReadMark.from_json(bad)
    with pytest.raises(ConfigError, match="naive"):
        ReadMark(start=None, until=NAIVE, high=None)
    with pytest.raises(ConfigError, match="negative"):
        mark.resume_from(timedelta(minutes=-1))
