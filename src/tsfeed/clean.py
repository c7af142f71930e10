"""Rules applied to each series at ingest: duplicate timestamps, gaps in time, missing values.

Each rule has a policy named by a string, and the default policy of each one raises an error that
names the series, the value and the way out. The result of the rules is a set of runs: step
ranges without a gap or a missing value, the only places where windows may lie.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re

import numpy as np
import numpy.typing as npt

from tsfeed.errors import DuplicateTimestampError, GapError, MissingValueError

logger = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("error", "keep_first", "keep_last")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
GAP_POLICIES = ("error", "split", "fill", "ignore")
MISSING_POLICIES = ("error", "ffill", "drop")
_UNIT_NANOSECONDS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "min": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}

__all__ = ["CleanedSeries", "SeriesRules", "clean_series", "parse_step"]

IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class SeriesRules:
    """Policies for the three kinds of irregular input.

    Attributes:
        duplicates: ``"error"``, ``"keep_first"`` or ``"keep_last"``.
        gaps: ``"error"`` (raise on a gap), ``"split"`` (windows never span a gap), ``"fill"``
            (insert the missing steps as missing values) or ``"ignore"`` (treat rows as
            consecutive steps, as Keras does).
        missing: ``"error"``, ``"ffill"`` (carry the last value forward; steps before the first
            value of a column stay missing and their windows are dropped) or ``"drop"`` (drop
            every window whose span contains a missing value).
        step: Time between steps in time units (nanoseconds for datetimes), or None to use the
            most common difference of each series.
        time_kind: ``"datetime"`` or ``"integer"``, for messages.
        time_zone: Zone of the time column, for messages.
    """

    duplicates: str = "error"
    gaps: str = "error"
    missing: str = "error"
    step: int | None = None
    time_kind: str = "datetime"
    time_zone: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in (
            ("duplicates", DUPLICATE_POLICIES),
            ("gaps", GAP_POLICIES),
            ("missing", MISSING_POLICIES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {allowed}.")

    def format_time(self, value: int) -> str:
        """Render a stored time value the way the input wrote it."""
        if self.time_kind == "integer":
            return str(value)
        stamp = np.datetime64(int(value), "ns").astype("datetime64[s]")
        return f"{stamp}{'Z' if self.time_zone else ''}"


@dataclasses.dataclass
class CleanedSeries:
    """One series after the rules: sorted rows, runs, and counts of what changed."""

    times: IntArray
    values: npt.NDArray[np.float64]
    runs: IntArray
    num_missing: int
    num_duplicates_dropped: int = 0
    num_filled_steps: int = 0
    num_gaps: int = 0


def parse_step(step: str | int | dt.timedelta | np.timedelta64 | None) -> int | None:
    """Convert a step such as ``"1h"``, ``"15min"``, a timedelta or an integer to time units.

    Raises:
        ValueError: If the text has no known unit or the step is not positive.
    """
    if step is None:
        return None
    if isinstance(step, dt.timedelta):
        nanoseconds = round(step.total_seconds() * 1e9)
    elif isinstance(step, np.timedelta64):
        nanoseconds = int(step.astype("timedelta64[ns]").astype(np.int64))
    elif isinstance(step, int | np.integer):
        nanoseconds = int(step)
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]+)\s*", str(step))
        unit = match.group(2).lower() if match else ""
        if not match or unit not in _UNIT_NANOSECONDS:
            raise ValueError(
                f"step={step!r} is not a duration; write a number and a unit from "
                f"{list(_UNIT_NANOSECONDS)}, such as '1h' or '15min'."
            )
        nanoseconds = int(match.group(1)) * _UNIT_NANOSECONDS[unit]
    if nanoseconds <= 0:
        raise ValueError(f"step must be positive, got {step!r}.")
    return nanoseconds


def clean_series(
    series_id: str,
    times: IntArray,
    values: npt.NDArray[np.float64],
    value_columns: list[str],
    rules: SeriesRules,
) -> CleanedSeries:
    """Apply the rules to one series whose rows are sorted by time.

    Args:
        series_id: Id used in messages.
        times: Sorted time values.
        values: ``(num_rows, num_columns)`` values, NaN where missing.
        value_columns: Column names of ``values``, for messages.
        rules: The policies.

    Raises:
        DuplicateTimestampError, GapError, MissingValueError: Under the ``"error"`` policies.
    """
    times, values, num_dropped = _handle_duplicates(series_id, times, values, rules)
    gap_rows, times, values, num_filled = _handle_gaps(series_id, times, values, rules)
    missing_rows, num_missing = _handle_missing(series_id, times, values, value_columns, rules)
    runs = _runs(len(times), gap_rows, missing_rows)
    return CleanedSeries(
        times=times,
        values=values,
        runs=runs,
        num_missing=num_missing,
        num_duplicates_dropped=num_dropped,
        num_filled_steps=num_filled,
        num_gaps=len(gap_rows),
    )


def _handle_duplicates(
    series_id: str, times: IntArray, values: npt.NDArray[np.float64], rules: SeriesRules
) -> tuple[IntArray, npt.NDArray[np.float64], int]:
    repeated = np.flatnonzero(np.diff(times) == 0)
    if not len(repeated):
        return times, values, 0
    if rules.duplicates == "error":
        first = int(times[repeated[0]])
        count = int(np.sum(times == first))
        raise DuplicateTimestampError(
            f"series {series_id!r} has {count} rows with the duplicate timestamp "
            f"{rules.format_time(first)} ({len(repeated)} duplicate rows in all). Remove them, "
            "or pass duplicates='keep_first' or 'keep_last'."
        )
    if rules.duplicates == "keep_last":
        keep = np.r_[times[1:] != times[:-1], True]
    else:
        keep = np.r_[True, times[1:] != times[:-1]]
    return times[keep], values[keep], int(np.count_nonzero(~keep))


def _handle_gaps(
    series_id: str, times: IntArray, values: npt.NDArray[np.float64], rules: SeriesRules
) -> tuple[IntArray, IntArray, npt.NDArray[np.float64], int]:
    no_gaps = np.zeros(0, dtype=np.int64)
    if rules.gaps == "ignore" or len(times) < 2:
        return no_gaps, times, values, 0
    differences = np.diff(times)
    step = rules.step if rules.step is not None else _most_common(differences)
    irregular = np.flatnonzero(differences != step)
    if not len(irregular):
        return no_gaps, times, values, 0
    where = int(irregular[0])
    describe = (
        f"series {series_id!r} jumps from {rules.format_time(int(times[where]))} to "
        f"{rules.format_time(int(times[where + 1]))}, but its step is "
        f"{_format_step(step, rules.time_kind)}"
    )
    off_grid = differences % step != 0
    if rules.gaps == "error" or (rules.gaps == "fill" and off_grid.any()):
        hint = "Pass gaps='split' (windows never span a gap), gaps='fill' or gaps='ignore'."
        if rules.gaps == "fill":
            hint = "Steps off the regular grid cannot be filled: use gaps='split'."
        raise GapError(f"{describe} ({len(irregular)} irregular steps in all). {hint}")
    if rules.gaps == "split":
        if (differences < step).any():
            raise GapError(
                f"{describe}, and some steps are shorter than that. Pass the intended step "
                "explicitly (step='1h'), or gaps='ignore'."
            )
        return irregular + 1, times, values, 0
    # Integer arithmetic on purpose: np.arange over nanosecond timestamps loses precision.
    grid = times[0] + step * np.arange((times[-1] - times[0]) // step + 1, dtype=np.int64)
    filled = np.full((len(grid), values.shape[1]), np.nan)
    filled[(times - times[0]) // step] = values
    return no_gaps, grid, filled, len(grid) - len(times)


def _handle_missing(
    series_id: str,
    times: IntArray,
    values: npt.NDArray[np.float64],
    value_columns: list[str],
    rules: SeriesRules,
) -> tuple[IntArray, int]:
    _handle_not_finite(series_id, times, values, value_columns, rules)
    missing = np.isnan(values)
    num_missing = int(missing.any(axis=1).sum())
    if not num_missing:
        return np.zeros(0, dtype=np.int64), 0
    if rules.missing == "error":
        column = int(np.flatnonzero(missing.any(axis=0))[0])
        rows = np.flatnonzero(missing[:, column])
        raise MissingValueError(
            f"column {value_columns[column]!r} of series {series_id!r} is missing in "
            f"{len(rows)} rows, first at {rules.format_time(int(times[rows[0]]))}. Pass "
            "missing='ffill' to carry the last value forward, or missing='drop' to drop the "
            "windows that would contain them."
        )
    if rules.missing == "ffill":
        _forward_fill(values)
        missing = np.isnan(values)
    return np.flatnonzero(missing.any(axis=1)).astype(np.int64), num_missing


def _handle_not_finite(
    series_id: str,
    times: IntArray,
    values: npt.NDArray[np.float64],
    value_columns: list[str],
    rules: SeriesRules,
) -> None:
    # Infinities, and finite values that float32 cannot hold, would reach the model as inf, so
    # they fall under the missing-value policy: an error by default, missing values otherwise.
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (np.abs(values) > _FLOAT32_MAX)
    if not bad.any():
        return
    column = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = np.flatnonzero(bad[:, column])
    if rules.missing == "error":
        raise MissingValueError(
            f"column {value_columns[column]!r} of series {series_id!r} contains {len(rows)} "
            f"values that are infinite or beyond the float32 range, first "
            f"{float(values[rows[0], column])!r} at {rules.format_time(int(times[rows[0]]))}. "
            "Fix them at the source, or pass missing='drop' or missing='ffill' to treat them "
            "as missing."
        )
    values[bad] = np.nan


def _forward_fill(values: npt.NDArray[np.float64]) -> None:
    rows = np.arange(len(values))[:, None]
    last_valid = np.where(np.isnan(values), 0, rows)
    np.maximum.accumulate(last_valid, axis=0, out=last_valid)
    filled = np.take_along_axis(values, last_valid, axis=0)
    values[:] = filled


def _runs(num_rows: int, gap_rows: IntArray, missing_rows: IntArray) -> IntArray:
    usable = np.ones(num_rows, dtype=bool)
    usable[missing_rows] = False
    breaks = np.zeros(num_rows, dtype=bool)
    breaks[gap_rows] = True
    previous_usable = np.r_[False, usable[:-1]] if num_rows else usable
    next_usable = np.r_[usable[1:], False] if num_rows else usable
    next_break = np.r_[breaks[1:], False] if num_rows else breaks
    begins = np.flatnonzero(usable & (~previous_usable | breaks))
    ends = np.flatnonzero(usable & (~next_usable | next_break)) + 1
    return np.column_stack([begins, ends]).astype(np.int64)


def _most_common(differences: IntArray) -> int:
    values, counts = np.unique(differences[differences > 0], return_counts=True)
    return int(values[np.argmax(counts)]) if len(values) else 1


def _format_step(step: int, time_kind: str) -> str:
    if time_kind == "integer":
        return str(step)
    for unit in ("d", "h", "min", "s", "ms", "us", "ns"):
        size = _UNIT_NANOSECONDS[unit]
        if step % size == 0:
            return f"{step // size}{unit}"
    return f"{step}ns"
