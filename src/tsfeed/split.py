"""Per-series cutoff between training and validation windows.

The rule: a window belongs to validation when its first target step is at or after the cutoff
step of its series, and to training when its last target step, and so every input step, is
before it. No target is on both sides. Validation inputs may reach back before the cutoff, so a
validation window exists for every target after the cutoff that has enough history. A training
window never includes a step at or after the cutoff. With a multi-step target, a window whose
targets straddle the cutoff belongs to neither side.

The cutoff step of each series comes from one of three forms of :class:`Cutoff`: a point in time
(the first step at or after it), a number of final steps, or a fraction of each series.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re

import numpy as np
import numpy.typing as npt

from tsfeed.errors import NoWindowsError
from tsfeed.store import Store
from tsfeed.windows import WindowIndex, WindowSpec, count_windows_in_runs

logger = logging.getLogger(__name__)

__all__ = ["Cutoff", "SplitIndexes", "count_windows_lost_to_runs", "split_windows"]

IntArray = npt.NDArray[np.int64]
CutoffLike = "Cutoff | str | dt.datetime | dt.date | np.datetime64 | int | float | None"


@dataclasses.dataclass(frozen=True)
class Cutoff:
    """The point where validation begins in each series.

    Create one with :meth:`at`, :meth:`last_steps` or :meth:`fraction`, or let
    :meth:`coerce` pick from a plain value: a ``datetime``, ``numpy.datetime64`` or ISO 8601
    string is a time, an ``int`` a number of final steps, a ``float`` in (0, 1) a fraction.

    Attributes:
        kind: ``"time"``, ``"last_steps"`` or ``"fraction"``.
        value: Nanoseconds since the epoch (or the integer time) for ``"time"``, the step count
            or the fraction otherwise.
        zone_aware: For ``"time"`` values from datetimes: whether the value is an absolute
            instant (True) or a naive wall-clock time (False). None for integer times.
        text: The value as the caller gave it, for messages.
    """

    kind: str
    value: float
    zone_aware: bool | None = None
    text: str = ""

    @classmethod
    def at(cls, when: str | dt.datetime | dt.date | np.datetime64 | int) -> Cutoff:
        """Cut at a point in time; an ``int`` is a value of an integer time column."""
        if isinstance(when, bool):
            raise TypeError(f"cutoff time must be a datetime, string or integer, got {when!r}.")
        if isinstance(when, int | np.integer):
            return cls("time", int(when), None, str(when))
        if isinstance(when, np.datetime64):
            nanoseconds = int(when.astype("datetime64[ns]").astype(np.int64))
            return cls("time", nanoseconds, False, str(when))
        if isinstance(when, str):
            text = when.strip()
            try:
                parsed = dt.datetime.fromisoformat(
                    text.replace("Z", "+00:00").replace("z", "+00:00")
                )
            except ValueError as err:
                raise ValueError(
                    f"validation_cutoff={when!r} is not an ISO 8601 time such as "
                    "'2013-11-01' or '2024-01-10T00:00+11:00'."
                ) from err
            if parsed.tzinfo is None and re.search(r"(Z|z|[+-]\d\d:?\d\d)$", text):
                # Python parses a date-only string such as "2024-01-05+00:00" as naive.
                raise ValueError(
                    f"validation_cutoff={when!r} has a zone offset that Python ignores after a "
                    "date without a time; write the time too, as in '2024-01-05T00:00+00:00'."
                )
            return cls._from_datetime(parsed, text)
        if isinstance(when, dt.datetime):
            return cls._from_datetime(when, when.isoformat())
        if isinstance(when, dt.date):
            return cls._from_datetime(
                dt.datetime(when.year, when.month, when.day), when.isoformat()
            )
        raise TypeError(f"cutoff time must be a datetime, string or integer, got {when!r}.")

    @classmethod
    def _from_datetime(cls, when: dt.datetime, text: str) -> Cutoff:
        if when.tzinfo is not None and when.utcoffset() is not None:
            seconds = (when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds()
            aware = True
        else:
            seconds = (when - dt.datetime(1970, 1, 1)).total_seconds()
            aware = False
        micro = round(seconds * 1e6)
        return cls("time", micro * 1000, aware, text)

    @classmethod
    def last_steps(cls, num_steps: int) -> Cutoff:
        """Make the final ``num_steps`` steps of each series validation steps."""
        if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer):
            raise TypeError(f"last_steps needs an integer, got {num_steps!r}.")
        if num_steps < 1:
            raise ValueError(f"last_steps must be at least 1, got {num_steps}.")
        return cls("last_steps", int(num_steps), None, str(num_steps))

    @classmethod
    def fraction(cls, fraction: float) -> Cutoff:
        """Make the final ``round(fraction * num_steps)`` steps of each series validation steps."""
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(
                f"a cutoff fraction must lie strictly between 0 and 1, got {fraction}."
            )
        return cls("fraction", float(fraction), None, str(fraction))

    @classmethod
    def coerce(cls, value: object) -> Cutoff:
        """Turn a plain value into a cutoff (see the class docstring)."""
        if isinstance(value, Cutoff):
            return value
        if isinstance(value, bool):
            raise TypeError(f"validation_cutoff={value!r} is not a cutoff.")
        if isinstance(value, int | np.integer):
            return cls.last_steps(int(value))
        if isinstance(value, float):
            return cls.fraction(value)
        if isinstance(value, str | dt.date | np.datetime64):
            return cls.at(value)
        raise TypeError(
            f"validation_cutoff={value!r} is not a time, a step count or a fraction; pass a "
            "datetime or ISO string, an int, a float in (0, 1), or tsfeed.Cutoff."
        )

    def cutoff_steps(self, store: Store) -> IntArray:
        """Compute the first validation step of every series of ``store``."""
        steps = store.num_steps
        if self.kind == "last_steps":
            last: IntArray = np.maximum(steps - int(self.value), 0)
            return last
        if self.kind == "fraction":
            fraction: IntArray = steps - np.floor(self.value * steps + 0.5).astype(np.int64)
            return fraction
        self._check_time_kind(store)
        instant = int(self.value)
        result = np.where(store.first_time >= instant, 0, steps).astype(np.int64)
        inside = np.flatnonzero((store.first_time < instant) & (store.last_time >= instant))
        for position in inside:
            times = store.series(int(position)).times
            result[position] = int(np.searchsorted(times, instant, side="left"))
        return result

    def _naive_example(self) -> str:
        return str(np.datetime64(int(self.value), "ns").astype("datetime64[s]"))

    def _check_time_kind(self, store: Store) -> None:
        if store.time_kind == "integer":
            if self.zone_aware is not None:
                raise ValueError(
                    f"validation_cutoff={self.text!r} is a datetime, but the time column of "
                    f"{store.path} holds integers. Pass Cutoff.at(<integer time>)."
                )
            return
        if self.zone_aware is None:
            raise ValueError(
                f"validation_cutoff={self.text!r} is an integer time, but the time column of "
                f"{store.path} holds datetimes. Pass a datetime or an ISO 8601 string."
            )
        zone = store.time_zone
        if zone and not self.zone_aware:
            raise ValueError(
                f"validation_cutoff={self.text!r} has no time zone, but the time column is in "
                f"zone {zone}. Give the cutoff an offset, such as "
                f"'{self._naive_example()}+00:00' for UTC, so both are compared as instants."
            )
        if not zone and self.zone_aware:
            raise ValueError(
                f"validation_cutoff={self.text!r} has a time zone, but the time column is naive "
                "(no zone). Drop the offset from the cutoff, or ingest zone-aware timestamps."
            )


@dataclasses.dataclass(frozen=True)
class SplitIndexes:
    """The windows of each side of a split.

    Attributes:
        train: Training windows.
        validation: Validation windows, or None without a cutoff.
        cutoff_steps: First validation step per series, or None without a cutoff.
        num_skipped: Series with no window on either side.
    """

    train: WindowIndex
    validation: WindowIndex | None
    cutoff_steps: IntArray | None
    num_skipped: int


def split_windows(store: Store, spec: WindowSpec, cutoff: Cutoff | None) -> SplitIndexes:
    """Index the training and validation windows of every series in ``store``.

    Raises:
        NoWindowsError: If no series is long enough for one window.
    """
    series, begin, end = store.run_table()
    if cutoff is None:
        first, count = count_windows_in_runs(spec, begin, end)
        train = WindowIndex.from_runs(spec, series, first, count)
        validation = None
        cutoff_steps = None
    else:
        cutoff_steps = cutoff.cutoff_steps(store)
        first, count = count_windows_in_runs(spec, begin, end, end_of_targets=cutoff_steps[series])
        train = WindowIndex.from_runs(spec, series, first, count)
        first, count = count_windows_in_runs(spec, begin, end, min_target_step=cutoff_steps[series])
        validation = WindowIndex.from_runs(spec, series, first, count)

    total = train.windows_per_series(store.num_series)
    if validation is not None:
        total = total + validation.windows_per_series(store.num_series)
    skipped = np.flatnonzero(total == 0)
    if len(skipped) == store.num_series:
        _raise_no_windows(store, spec)
    if len(skipped):
        examples = ", ".join(
            f"{store.series_ids[i]!r} ({store.num_steps[i]} steps)" for i in skipped[:5]
        )
        logger.warning(
            "%d of %d series have no window of %d steps and are skipped, for example %s",
            len(skipped),
            store.num_series,
            spec.rows_needed,
            examples,
        )
    num_kept, num_whole = _windows_in_runs_and_whole(store, spec)
    if num_whole > num_kept:
        logger.info(
            "gaps and missing values (policies %s) remove %d of the %d windows the series "
            "would have as unbroken runs",
            store.meta.get("policies"),
            num_whole - num_kept,
            num_whole,
        )
    return SplitIndexes(train, validation, cutoff_steps, len(skipped))


def count_windows_lost_to_runs(store: Store, spec: WindowSpec, kept: bool = False) -> int:
    """Count the windows that gaps and missing values remove, ignoring any cutoff.

    The count compares each series as stored with the same series taken as one unbroken run.
    With ``kept=True``, return the windows that remain instead.
    """
    num_kept, num_whole = _windows_in_runs_and_whole(store, spec)
    return num_kept if kept else num_whole - num_kept


def _windows_in_runs_and_whole(store: Store, spec: WindowSpec) -> tuple[int, int]:
    _, begin, end = store.run_table()
    _, in_runs = count_windows_in_runs(spec, begin, end)
    zeros = np.zeros(store.num_series, dtype=np.int64)
    _, whole = count_windows_in_runs(spec, zeros, store.num_steps)
    return int(in_runs.sum()), int(whole.sum())


def _raise_no_windows(store: Store, spec: WindowSpec) -> None:
    longest = int(np.argmax(store.num_steps))
    longest_run = max(
        (
            int(np.diff(store.runs(i), axis=1).max(initial=0))
            for i in range(min(store.num_series, 10_000))
        ),
        default=0,
    )
    raise NoWindowsError(
        f"no series has the {spec.rows_needed} consecutive usable steps one window needs "
        f"({(spec.sequence_length - 1) * spec.sampling_rate + 1} input steps spanned, horizon "
        f"{spec.horizon}, target width {spec.target_width}). The longest series, "
        f"{store.series_ids[longest]!r}, has {store.num_steps[longest]} steps, and the longest "
        f"run without a gap or missing value has {longest_run}. Lower sequence_length or "
        "sampling_rate, or ingest longer series."
    )
