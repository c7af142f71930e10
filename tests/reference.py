"""A slow, plain-loop reference of the window and split rules, the oracle of the property tests.

It checks every candidate start of every series one step at a time and shares no code with
``tsfeed.windows`` or ``tsfeed.split``. The rules it implements, with ``L = sequence_length``,
``r = sampling_rate``, ``h = horizon`` and ``w = target_width``:

* the window that starts at step ``i`` has the input steps ``i + k * r`` for ``k < L`` and the
  target steps ``i + (L - 1) * r + h + j`` for ``j < w``;
* starts are ``0, s, 2s, ...`` with ``s = sequence_stride``, counted from step 0 of the series;
* every step of a window, from its first input step to its last target step, lies inside one run
  ``[begin, end)`` of usable steps;
* with a cutoff step ``c``, a window is a validation window when its first target step is at or
  after ``c``, a training window when its last target step is before ``c``, and neither otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np


class SpecLike(Protocol):
    """Any object with the five integer fields of a window rule, such as ``tsfeed.WindowSpec``."""

    sequence_length: int
    sequence_stride: int
    sampling_rate: int
    horizon: int
    target_width: int


@dataclasses.dataclass
class ReferenceSeries:
    """One series: its rows and its runs of usable steps.

    Attributes:
        features: ``(num_steps, num_features)`` values.
        targets: ``(num_steps, num_targets)`` values.
        runs: ``(begin, end)`` half-open ranges of usable steps.
    """

    features: np.ndarray
    targets: np.ndarray
    runs: list[tuple[int, int]]


@dataclasses.dataclass
class ReferenceWindow:
    """One window: where it starts and the rows it takes.

    Attributes:
        series: Position of the series in the list given to :func:`reference_split`.
        start: First input step.
        inputs: ``(sequence_length, num_features)`` rows, or None when no data was given.
        targets: ``(target_width, num_targets)`` rows, or None when no data was given.
    """

    series: int
    start: int
    inputs: np.ndarray | None = None
    targets: np.ndarray | None = None


def input_steps(spec: SpecLike, start: int) -> list[int]:
    """List the input steps of the window that starts at ``start``."""
    steps = []
    for k in range(spec.sequence_length):
        steps.append(start + k * spec.sampling_rate)
    return steps


def target_steps(spec: SpecLike, start: int) -> list[int]:
    """List the target steps of the window that starts at ``start``."""
    last_input = start + (spec.sequence_length - 1) * spec.sampling_rate
    steps = []
    for j in range(spec.target_width):
        steps.append(last_input + spec.horizon + j)
    return steps


def inside_one_run(steps: Sequence[int], runs: Sequence[tuple[int, int]]) -> bool:
    """Tell whether every step lies in one and the same run."""
    return any(all(begin <= step < end for step in steps) for begin, end in runs)


def side_of(spec: SpecLike, start: int, cutoff_step: int | None) -> str | None:
    """Return ``"train"``, ``"validation"`` or None (targets on both sides of the cutoff)."""
    targets = target_steps(spec, start)
    if cutoff_step is None:
        return "train"
    if targets[0] >= cutoff_step:
        return "validation"
    if targets[-1] < cutoff_step:
        return "train"
    return None


def list_window_starts(
    spec: SpecLike,
    runs_per_series: Sequence[Sequence[tuple[int, int]]],
    cutoff_steps: Sequence[int | None] | None = None,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """List the ``(series, start)`` pairs of the training and the validation windows.

    Both lists are in canonical order: series in the given order, then start ascending. Without
    cutoff steps every window is a training window and the validation list is empty.
    """
    train: list[tuple[int, int]] = []
    validation: list[tuple[int, int]] = []
    for series, runs in enumerate(runs_per_series):
        cutoff = None if cutoff_steps is None else cutoff_steps[series]
        end_of_series = max((end for _, end in runs), default=0)
        for start in range(0, end_of_series, spec.sequence_stride):
            steps = input_steps(spec, start) + target_steps(spec, start)
            if not inside_one_run(steps, runs):
                continue
            side = side_of(spec, start, cutoff)
            if side == "train":
                train.append((series, start))
            elif side == "validation":
                validation.append((series, start))
    return train, validation


def reference_split(
    spec: SpecLike,
    series_list: Sequence[ReferenceSeries],
    cutoff_steps: Sequence[int | None] | None = None,
) -> tuple[list[ReferenceWindow], list[ReferenceWindow]]:
    """List the training and validation windows with their input and target rows."""
    runs = [series.runs for series in series_list]
    train, validation = list_window_starts(spec, runs, cutoff_steps)
    return (
        [_with_rows(spec, series_list, series, start) for series, start in train],
        [_with_rows(spec, series_list, series, start) for series, start in validation],
    )


def runs_from_usable(usable: Sequence[bool]) -> list[tuple[int, int]]:
    """Cut a per-step usable flag into the maximal runs of usable steps."""
    runs = []
    begin = None
    for step, ok in enumerate(usable):
        if ok and begin is None:
            begin = step
        if not ok and begin is not None:
            runs.append((begin, step))
            begin = None
    if begin is not None:
        runs.append((begin, len(usable)))
    return runs


def _with_rows(
    spec: SpecLike, series_list: Sequence[ReferenceSeries], series: int, start: int
) -> ReferenceWindow:
    data = series_list[series]
    inputs = np.stack([data.features[step] for step in input_steps(spec, start)])
    targets = np.stack([data.targets[step] for step in target_steps(spec, start)])
    return ReferenceWindow(series, start, inputs, targets)
