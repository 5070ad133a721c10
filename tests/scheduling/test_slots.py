"""The slot finder (pure): open windows minus closures, capacity (a nurse's patients-per-nurse
ratio), the earliest fit of a visit, and a whole series placed visit by visit within its window."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from ketacare.scheduling.slots import Calendar, Need, first_fit, first_series, merge, series, subtract

CHI = ZoneInfo("America/Chicago")
H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)


def at(day: int, hour: float) -> datetime.datetime:
    """2026-11-<day> at `hour` o'clock in Chicago (Nov 23 is a Monday)."""
    return datetime.datetime(2026, 11, day, tzinfo=CHI) + datetime.timedelta(hours=hour)


def weekdays(
    first: int, last: int, open_h: float = 8, close_h: float = 17
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    return [(at(d, open_h), at(d, close_h)) for d in range(first, last + 1) if at(d, 0).weekday() < 5]


def test_merge_and_subtract():
    assert merge([(at(23, 9), at(23, 10)), (at(23, 10), at(23, 11)), (at(23, 8), at(23, 8.5))]) == [
        (at(23, 8), at(23, 8.5)),
        (at(23, 9), at(23, 11)),
    ]
    assert subtract([(at(23, 8), at(23, 17))], [(at(23, 12), at(23, 13))]) == [
        (at(23, 8), at(23, 12)),
        (at(23, 13), at(23, 17)),
    ]


def test_a_chair_is_free_only_when_open_and_not_held():
    chair = Calendar("chair-1", weekdays(23, 27), busy=[(at(23, 9), at(23, 11))])
    assert chair.is_free(at(23, 8), at(23, 9))
    assert not chair.is_free(at(23, 10), at(23, 12))  # overlaps the booking
    assert chair.is_free(at(23, 11), at(23, 12))  # touching is not overlapping
    assert not chair.is_free(at(23, 16), at(23, 18))  # past closing
    assert not chair.is_free(at(28, 9), at(28, 10))  # Saturday: closed


def test_a_nurse_takes_patients_up_to_the_ratio_at_any_one_moment():
    nurse = Calendar(
        "nurse-ben",
        weekdays(23, 23),
        busy=[(at(23, 9), at(23, 11)), (at(23, 10), at(23, 12)), (at(23, 12), at(23, 13))],
        capacity=2,
    )
    assert not nurse.is_free(at(23, 10), at(23, 10.5))  # two already at 10:00-11:00
    assert nurse.is_free(at(23, 11), at(23, 12.5))  # one at a time from 11:00 (12:00-13:00 follows 10-12)
    assert nurse.is_free(at(23, 8), at(23, 9.5))


def test_first_fit_needs_a_chair_and_a_nurse_for_the_whole_span():
    chairs = (
        Calendar("chair-1", weekdays(23, 23), busy=[(at(23, 8), at(23, 12))]),
        Calendar("chair-2", weekdays(23, 23), busy=[(at(23, 8), at(23, 10))]),
    )
    nurse = Calendar("nurse", weekdays(23, 23), busy=[(at(23, 10), at(23, 11))])
    needs = [Need("chair", chairs), Need("nurse", (nurse,))]
    fit = first_fit(needs, 2 * H, after=at(23, 8), until=at(24, 0))
    assert fit is not None
    assert (fit.start, fit.end, fit.resources) == (at(23, 11), at(23, 13), ("chair-2", "nurse"))
    assert first_fit(needs, 9 * H, after=at(23, 8), until=at(24, 0)) is None


def test_a_series_keeps_the_minimum_interval_and_fits_in_its_window():
    chair = Calendar("chair-1", weekdays(23, 30), busy=[(at(25, 8), at(25, 17))])
    needs = [Need("chair", (chair,))]
    placed = series(needs, 2 * H, count=3, first_at=at(23, 9), min_interval=48 * H, window=7 * 24 * H)
    assert placed is not None
    # Wednesday is fully held, so the second visit moves to Thursday morning (>= 48 h after Monday 09:00).
    assert [f.start for f in placed] == [at(23, 9), at(26, 8), at(30, 8)]
    assert series(needs, 2 * H, count=4, first_at=at(23, 9), min_interval=48 * H, window=7 * 24 * H) is None
    # Proposals hold nothing.
    assert chair.busy == [(at(25, 8), at(25, 17))]


def test_first_series_are_listed_by_their_first_visit():
    chairs = tuple(Calendar(f"chair-{n}", weekdays(23, 30)) for n in (1, 2))
    found = first_series(
        [Need("chair", chairs)],
        3 * H,
        count=2,
        after=at(23, 8),
        until=at(24, 0),
        min_interval=48 * H,
        window=4 * 24 * H,
        limit=3,
        step=60 * M,
    )
    assert [s[0].start for s in found] == [at(23, 8), at(23, 9), at(23, 10)]
    assert all(s[1].start - s[0].start >= 48 * H for s in found)


def test_times_must_be_aware():
    chair = Calendar("c", weekdays(23, 23))
    with pytest.raises(ValueError, match="aware"):
        first_fit([Need("chair", (chair,))], H, after=datetime.datetime(2026, 11, 23, 9), until=at(24, 0))


def test_first_series_spread_offers_different_times() -> None:
    day = datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.UTC)
    chair = Calendar(
        "chair", [(day + datetime.timedelta(days=d), day + datetime.timedelta(days=d, hours=10)) for d in range(30)]
    )
    needs = [Need("chair", (chair,))]
    kwargs = {
        "count": 3,
        "after": day,
        "until": day + datetime.timedelta(days=5),
        "min_interval": datetime.timedelta(hours=48),
        "window": None,
        "limit": 4,
    }
    dense = first_series(needs, datetime.timedelta(minutes=90), **kwargs)
    assert [s[0].start.hour for s in dense] == [8, 8, 8, 8]
    assert [s[0].start.minute for s in dense] == [0, 15, 30, 45]
    spread = first_series(needs, datetime.timedelta(minutes=90), spread=datetime.timedelta(hours=2), **kwargs)
    assert [s[0].start.hour for s in spread] == [8, 10, 12, 14]
