"""Where does a visit fit, and where does a whole series fit? Pure, over plain intervals (issue #8).

A visit needs, for its whole span (the dose or consultation plus the protocol's recovery or
observation buffer), one resource of each `Need`: a chair or room from a set, a nurse with a free
place under the clinic's patients-per-nurse ratio (capacity > 1), a prescriber on site for
Spravato, and so on. Each candidate resource has its calendar: when it is open (opening hours,
working hours, minus holidays, time off and closures) and what already holds it (bookings).

`first_fit(...)` finds the earliest start at or after a moment; `series(...)` places a whole series
(e.g. six infusions at least the protocol's minimum interval apart, within its window) by putting
each visit at its earliest fit after the previous one. Placing each visit as early as it fits is
optimal: if any placement of the series exists, this one does, visit by visit no later (induction on
the visits: the other placement's next visit is a later candidate that also fits). `first_series`
lists the first N series by their first visit's start. Times are aware datetimes; starts are tried
on a grid (`step`, e.g. 15 minutes) inside the open windows.

The database holds the guarantee that nothing is double-booked (issue #8, exclusion constraint);
this module only proposes. What it proposes can still lose a race, and then the booking is refused
and proposed again.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
from collections.abc import Callable, Iterable, Iterator, Sequence

Interval = tuple[datetime.datetime, datetime.datetime]  # [start, end)


def _aware(value: datetime.datetime, name: str) -> datetime.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of the intervals (touching ones joined)."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(windows: Iterable[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """The windows minus the holes (closures, time off, holidays)."""
    result: list[Interval] = []
    cut = merge(holes)
    for start, end in merge(windows):
        pieces = [(start, end)]
        for h_start, h_end in cut:
            if h_end <= start or h_start >= end:
                continue
            nxt: list[Interval] = []
            for p_start, p_end in pieces:
                if h_end <= p_start or h_start >= p_end:
                    nxt.append((p_start, p_end))
                    continue
                if p_start < h_start:
                    nxt.append((p_start, h_start))
                if h_end < p_end:
                    nxt.append((h_end, p_end))
            pieces = nxt
        result.extend(pieces)
    return result


@dataclasses.dataclass
class Calendar:
    """One resource: when it is open, what holds it, and how many at once (a nurse's ratio)."""

    key: str
    open: list[Interval]
    busy: list[Interval] = dataclasses.field(default_factory=list)
    capacity: int = 1

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.open = merge(self.open)
        self._open_starts = [s for s, _ in self.open]
        self.busy = sorted(b for b in self.busy if b[1] > b[0])
        self._busy_starts = [s for s, _ in self.busy]
        # The longest booking bounds how far back an overlapping one can start.
        self._longest = max((e - s for s, e in self.busy), default=datetime.timedelta(0))

    def is_open(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        i = bisect.bisect_right(self._open_starts, start) - 1
        return i >= 0 and self.open[i][0] <= start and end <= self.open[i][1]

    def _overlapping(self, start: datetime.datetime, end: datetime.datetime) -> list[Interval]:
        lo = bisect.bisect_left(self._busy_starts, start - self._longest)
        hi = bisect.bisect_left(self._busy_starts, end)
        return [b for b in self.busy[lo:hi] if b[1] > start]

    def is_free(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        """Open for the whole span, and fewer than `capacity` bookings at every moment of it."""
        if not self.is_open(start, end):
            return False
        overlapping = self._overlapping(start, end)
        if len(overlapping) < self.capacity:
            return True
        # The most bookings at once within [start, end): a sweep over the overlapping ones.
        events = sorted([(max(s, start), 1) for s, _ in overlapping] + [(min(e, end), -1) for _, e in overlapping])
        load = peak = 0
        for _, delta in sorted(events, key=lambda ev: (ev[0], ev[1])):
            load += delta
            peak = max(peak, load)
        return peak < self.capacity

    def book(self, start: datetime.datetime, end: datetime.datetime) -> None:
        """Hold the span (used when placing a series, so its own visits count)."""
        i = bisect.bisect_left(self._busy_starts, start)
        self.busy.insert(i, (start, end))
        self._busy_starts.insert(i, start)
        self._longest = max(self._longest, end - start)

    def unbook(self, start: datetime.datetime, end: datetime.datetime) -> None:
        i = self.busy.index((start, end))
        del self.busy[i]
        del self._busy_starts[i]


@dataclasses.dataclass(frozen=True)
class Need:
    """One resource of `candidates` for the visit's whole span, e.g. any chair at the location."""

    label: str
    candidates: tuple[Calendar, ...]


@dataclasses.dataclass(frozen=True)
class Fit:
    start: datetime.datetime
    end: datetime.datetime
    resources: tuple[str, ...]  # one calendar key per need, in the needs' order


def _grid(
    open_windows: Sequence[Interval], after: datetime.datetime, step: datetime.timedelta
) -> Iterator[datetime.datetime]:
    """Candidate starts: each open window's start, then every `step`, from `after` on."""
    for w_start, w_end in open_windows:
        if w_end <= after:
            continue
        t = w_start
        if t < after:
            steps = -(-(after - w_start) // step)  # ceiling
            t = w_start + steps * step
        while t < w_end:
            yield t
            t += step


def fit_at(needs: Sequence[Need], start: datetime.datetime, duration: datetime.timedelta) -> Fit | None:
    """The visit exactly at `start`: the first free candidate of each need, or None."""
    _aware(start, "start")
    end = start + duration
    chosen: list[str] = []
    for need in needs:
        found = next((c for c in need.candidates if c.is_free(start, end)), None)
        if found is None:
            return None
        chosen.append(found.key)
    return Fit(start, end, tuple(chosen))


def first_fit(
    needs: Sequence[Need],
    duration: datetime.timedelta,
    *,
    after: datetime.datetime,
    until: datetime.datetime,
    step: datetime.timedelta = datetime.timedelta(minutes=15),
) -> Fit | None:
    """The earliest start in [after, until) where every need has a free candidate for `duration`."""
    _aware(after, "after")
    _aware(until, "until")
    if not needs:
        raise ValueError("a visit needs at least one resource")
    if duration <= datetime.timedelta(0) or step <= datetime.timedelta(0):
        raise ValueError("duration and step must be positive")
    # Starts are tried where the first need's candidates are open (its windows bound everything).
    windows = merge(w for c in needs[0].candidates for w in c.open)
    for start in _grid(windows, after, step):
        if start >= until:
            return None
        fit = fit_at(needs, start, duration)
        if fit is not None:
            return fit
    return None


def _by_key(needs: Sequence[Need]) -> dict[str, Calendar]:
    return {c.key: c for need in needs for c in need.candidates}


def series(
    needs: Sequence[Need],
    duration: datetime.timedelta,
    *,
    count: int,
    first_at: datetime.datetime,
    min_interval: datetime.timedelta,
    window: datetime.timedelta | None,
    step: datetime.timedelta = datetime.timedelta(minutes=15),
    deadline: Callable[[datetime.datetime], datetime.datetime] | None = None,
) -> list[Fit] | None:
    """`count` visits, the first exactly at `first_at`, each at least `min_interval` after the
    previous start and all starting within `window` of the first (or at or before `deadline(first_at)`,
    e.g. the end of the window's last local day); None when it does not fit."""
    if count < 1:
        raise ValueError("a series has at least one visit")
    calendars = _by_key(needs)
    first = first_fit(needs, duration, after=first_at, until=first_at + step / 2, step=step)
    if first is None or first.start != first_at:
        return None
    placed = [first]
    if deadline is not None:
        last_start = deadline(first_at)
    else:
        last_start = first_at + window if window is not None else first_at + datetime.timedelta(days=3650)
    held: list[tuple[str, Interval]] = []
    try:
        for fit in placed:
            for key in fit.resources:
                calendars[key].book(fit.start, fit.end)
                held.append((key, (fit.start, fit.end)))
        while len(placed) < count:
            nxt = first_fit(
                needs, duration, after=placed[-1].start + min_interval, until=last_start + step / 2, step=step
            )
            if nxt is None or nxt.start > last_start:
                return None
            placed.append(nxt)
            for key in nxt.resources:
                calendars[key].book(nxt.start, nxt.end)
                held.append((key, (nxt.start, nxt.end)))
        return placed
    finally:
        for key, (start, end) in held:  # proposals hold nothing
            calendars[key].unbook(start, end)


def first_series(
    needs: Sequence[Need],
    duration: datetime.timedelta,
    *,
    count: int,
    after: datetime.datetime,
    until: datetime.datetime,
    min_interval: datetime.timedelta,
    window: datetime.timedelta | None,
    limit: int = 20,
    step: datetime.timedelta = datetime.timedelta(minutes=15),
    deadline: Callable[[datetime.datetime], datetime.datetime] | None = None,
    spread: datetime.timedelta | None = None,
) -> list[list[Fit]]:
    """The first `limit` series whose first visit starts in [after, until), earliest first; with
    `spread`, each next series starts at least that long after the previous one's first visit (so
    a person choosing sees different times of day, not the same morning in 15-minute steps)."""
    found: list[list[Fit]] = []
    cursor = after
    while len(found) < limit:
        start = first_fit(needs, duration, after=cursor, until=until, step=step)
        if start is None:
            break
        placed = series(
            needs,
            duration,
            count=count,
            first_at=start.start,
            min_interval=min_interval,
            window=window,
            step=step,
            deadline=deadline,
        )
        if placed is not None:
            found.append(placed)
            cursor = start.start + max(step, spread or step)
        else:
            cursor = start.start + step
    return found
