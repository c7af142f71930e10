"""Measure a user's own store: windows per second, and whether a small model waits for data.

This backs the ``tsfeed bench STORE`` command. The model is a stand-in (LSTM(32) and Dense), so
the verdict tells whether a model of that cost would be input-bound. A heavier model is less
likely to be.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import tensorflow as tf

from tsfeed.pipeline import make_datasets
from tsfeed.split import split_windows
from tsfeed.store import open_store
from tsfeed.windows import WindowSpec

logger = logging.getLogger(__name__)

_WARMUP_BATCHES = 10
_FIT_STEPS = 60

__all__ = ["StoreBenchmark", "run_store_benchmark"]


@dataclasses.dataclass(frozen=True)
class StoreBenchmark:
    """Figures of one ``tsfeed bench`` run; ``str()`` renders them for a terminal."""

    store: str
    num_windows: int
    first_batch_seconds: float
    loader_windows_per_second: float
    fit_in_memory_steps_per_second: float
    fit_tsfeed_steps_per_second: float
    batch_size: int

    @property
    def fit_ratio(self) -> float:
        """Training speed fed by tsfeed as a share of the speed on in-memory batches."""
        return self.fit_tsfeed_steps_per_second / self.fit_in_memory_steps_per_second

    def __str__(self) -> str:
        consumer = self.fit_in_memory_steps_per_second * self.batch_size
        if self.loader_windows_per_second < 1.5 * consumer:
            verdict = "input-bound: the loader is barely faster than the model consumes"
        elif self.fit_ratio >= 0.9:
            verdict = "not input-bound: the model, not the loader, sets the pace"
        else:
            verdict = (
                "the loader is fast enough, but sharing the CPU with it slows the model; "
                "try num_parallel_calls=1"
            )
        return "\n".join(
            [
                f"store                     {self.store} ({self.num_windows:,} training windows)",
                f"first batch               {self.first_batch_seconds:.2f} s",
                f"tsfeed loader             {self.loader_windows_per_second:,.0f} windows/s",
                f"LSTM(32) on memory        {consumer:,.0f} windows/s",
                f"LSTM(32) fed by tsfeed    {self.fit_ratio:.2f} of its in-memory speed",
                f"verdict                   {verdict}",
            ]
        )


def run_store_benchmark(
    store_path: str,
    *,
    sequence_length: int = 168,
    sampling_rate: int = 1,
    horizon: int = 1,
    batch_size: int = 256,
    num_batches: int = 200,
) -> StoreBenchmark:
    """Time the gather engine on a store, then a small LSTM fed by it and by memory.

    Raises:
        FileNotFoundError: If the store does not exist.
        NoWindowsError: If the store has no window of this shape.
    """
    store = open_store(store_path)
    spec = WindowSpec(sequence_length, sampling_rate=sampling_rate, horizon=horizon)
    started = time.perf_counter()
    train, _ = make_datasets(store, spec, validation_cutoff=None, batch_size=batch_size, seed=0)
    num_windows = split_windows(store, spec, None).train.num_windows
    iterator = iter(train.repeat())
    inputs, targets = next(iterator)
    first_batch = time.perf_counter() - started
    for _ in range(_WARMUP_BATCHES):
        next(iterator)
    started = time.perf_counter()
    count = 0
    for _ in range(num_batches):
        batch_inputs, _ = next(iterator)
        count += int(batch_inputs.shape[0])
    loader_rate = count / (time.perf_counter() - started)
    del iterator  # its prefetch threads would compete with the model below
    logger.info("loader: %.0f windows/s over %d batches", loader_rate, num_batches)

    model = tf.keras.Sequential(
        [
            tf.keras.Input(inputs.shape[1:]),
            tf.keras.layers.LSTM(32),
            tf.keras.layers.Dense(int(np.prod(targets.shape[1:]))),
            tf.keras.layers.Reshape(targets.shape[1:]),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    memory = tf.data.Dataset.from_tensors((inputs, targets)).repeat()
    # Alternating the two and keeping each one's best run evens out a noisy, shared machine.
    in_memory = fed = 0.0
    for _ in range(2):
        in_memory = max(in_memory, _fit_rate(model, memory))
        fed = max(fed, _fit_rate(model, train.repeat()))
    return StoreBenchmark(
        store=str(store.path),
        num_windows=num_windows,
        first_batch_seconds=first_batch,
        loader_windows_per_second=loader_rate,
        fit_in_memory_steps_per_second=in_memory,
        fit_tsfeed_steps_per_second=fed,
        batch_size=int(inputs.shape[0]),
    )


class _StepClock(tf.keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_end(self, batch: int, logs: object = None) -> None:
        self.times.append(time.perf_counter())


def _fit_rate(model: tf.keras.Model, dataset: tf.data.Dataset) -> float:
    # Steps per second between the 5th and the last step, so that tracing and the start of the
    # input pipeline do not count. shuffle=False because Keras cannot shuffle a dataset.
    clock = _StepClock()
    model.fit(
        dataset, steps_per_epoch=_FIT_STEPS, epochs=1, verbose=0, shuffle=False, callbacks=[clock]
    )
    return (len(clock.times) - 5) / (clock.times[-1] - clock.times[4])
