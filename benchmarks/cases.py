"""Measurements of tsfeed itself: engine throughput, start-up, ingest, and the copy limit.

Every function takes a build record from :func:`common.prepared_store` and returns a dict of
figures. Windows per second count the windows in the batches that actually arrived.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    BATCH_SIZE,
    NUM_FEATURES,
    SEQUENCE_LENGTH,
    TARGET_COLUMNS,
    folder_bytes,
    median_time,
    validation_cutoff,
    window_spec,
)

WINDOW_BYTES = SEQUENCE_LENGTH * NUM_FEATURES * 4


def _take(iterator: Any, num_batches: int) -> int:
    """Pull up to ``num_batches`` batches and return the number of windows they held."""
    num_windows = 0
    for _ in range(num_batches):
        try:
            inputs, _targets = next(iterator)
        except StopIteration:
            break
        num_windows += int(inputs.shape[0])
    return num_windows


def engine_training(build: dict[str, Any], engine: str, num_batches: int) -> dict[str, Any]:
    """Measure shuffled training windows per second, median of 3 runs of ``num_batches``."""
    import tsfeed

    train, _ = tsfeed.make_datasets(
        build["store"],
        window_spec(),
        validation_cutoff=validation_cutoff(),
        cache_validation=False,
        engine=engine,
        seed=1,
    )
    iterator = iter(train.repeat())
    _take(iterator, 3)
    counts: list[int] = []
    seconds, runs = median_time(lambda: counts.append(_take(iterator, num_batches)))
    return {
        "windows_per_second": counts[0] / seconds,
        "num_batches": num_batches,
        "runs_seconds": runs,
        "num_training_batches": int(train.cardinality()),
    }


def validation_passes(build: dict[str, Any], cached: bool, repeats: int = 3) -> dict[str, Any]:
    """Measure full validation passes: read from the shards, and (``cached``) from the cache.

    ``make_datasets`` fills the validation cache at build time, so the cached figures include
    the seconds of that fill, and the cached pass is the median of ``repeats`` later passes.
    """
    import tsfeed

    _, validation = tsfeed.make_datasets(
        build["store"],
        window_spec(),
        validation_cutoff=validation_cutoff(),
        cache_validation=False,
        shuffle=False,
    )
    counts: list[int] = []
    seconds, runs = median_time(lambda: counts.append(_take(iter(validation), 10**9)), repeats)
    result: dict[str, Any] = {
        "validation_windows": counts[0],
        "uncached_windows_per_second": counts[0] / seconds,
        "uncached_runs_seconds": runs,
        "cache_bytes_estimate": counts[0] * (WINDOW_BYTES + 4 * len(TARGET_COLUMNS)),
    }
    if not cached:
        result["cached_pass"] = "skipped: the in-memory cache would hold cache_bytes_estimate"
        return result
    started = time.perf_counter()
    _, validation = tsfeed.make_datasets(
        build["store"], window_spec(), validation_cutoff=validation_cutoff(), shuffle=False
    )
    result["build_with_cache_fill_seconds"] = time.perf_counter() - started
    seconds, runs = median_time(lambda: _take(iter(validation), 10**9), repeats)
    result["cached_windows_per_second"] = counts[0] / seconds
    result["cached_runs_seconds"] = runs
    return result


def first_batch(build: dict[str, Any], cache_validation: bool) -> dict[str, Any]:
    """Time open_store + make_datasets + the first training batch, with their split."""
    import tsfeed

    started = time.perf_counter()
    store = tsfeed.open_store(build["store"])
    opened = time.perf_counter()
    train, _ = tsfeed.make_datasets(
        store,
        window_spec(),
        validation_cutoff=validation_cutoff(),
        cache_validation=cache_validation,
        seed=3,
    )
    built = time.perf_counter()
    next(iter(train))
    done = time.perf_counter()
    return {
        "cache_validation": cache_validation,
        "open_store_seconds": opened - started,
        "make_datasets_seconds": built - opened,
        "first_batch_after_make_seconds": done - built,
        "from_make_datasets_seconds": done - opened,
        "from_open_store_seconds": done - started,
    }


def engines_agree(build: dict[str, Any]) -> dict[str, Any]:
    """Compare the first unshuffled batch of the gather and keras engines bit for bit."""
    import tsfeed

    batches = {}
    for engine in ("gather", "keras"):
        train, _ = tsfeed.make_datasets(
            build["store"],
            window_spec(),
            validation_cutoff=validation_cutoff(),
            cache_validation=False,
            shuffle=False,
            engine=engine,
        )
        inputs, targets = next(iter(train))
        batches[engine] = (inputs.numpy(), targets.numpy())
    gather, keras = batches["gather"], batches["keras"]
    equal = gather[0].shape == keras[0].shape and bool(
        np.array_equal(gather[0], keras[0]) and np.array_equal(gather[1], keras[1])
    )
    if not equal:
        raise AssertionError("the first batches of the gather and keras engines differ")
    return {"bit_identical": equal, "shape": list(gather[0].shape)}


def copy_limit(num_batches: int = 400) -> dict[str, Any]:
    """Measure numpy copies of batch-sized blocks into one preallocated batch array.

    ``streaming`` copies consecutive blocks of a 512 MB source, so every byte comes from main
    memory, as when a store is larger than the caches. ``cache_hot`` copies one block again
    and again.
    """
    batch = np.empty((BATCH_SIZE, SEQUENCE_LENGTH, NUM_FEATURES), np.float32)
    num_blocks = (512 << 20) // batch.nbytes
    source = np.random.default_rng(0).random((num_blocks, *batch.shape), dtype=np.float32)

    def streaming() -> None:
        for k in range(num_batches):
            np.copyto(batch, source[k % num_blocks])

    def cache_hot() -> None:
        for _ in range(num_batches):
            np.copyto(batch, source[0])

    streaming_seconds, _ = median_time(streaming)
    hot_seconds, _ = median_time(cache_hot)
    windows = num_batches * BATCH_SIZE
    return {
        "streaming_windows_per_second": windows / streaming_seconds,
        "cache_hot_windows_per_second": windows / hot_seconds,
        "source_bytes": int(source.nbytes),
    }


def ingest_rate(build: dict[str, Any]) -> dict[str, Any]:
    """Ingest the build's Parquet folder again into a temporary store and time it."""
    import tsfeed

    with tempfile.TemporaryDirectory(dir=Path(build["store"]).parent) as scratch:
        started = time.perf_counter()
        store = tsfeed.ingest(
            build["parquet"],
            Path(scratch) / "store",
            series_column="customer_id",
            time_column="timestamp",
            target_columns=TARGET_COLUMNS,
        )
        seconds = time.perf_counter() - started
        store_bytes = folder_bytes(Path(scratch) / "store")
    return {
        "rows": store.num_rows,
        "seconds": seconds,
        "rows_per_second": store.num_rows / seconds,
        "parquet_bytes": build["parquet_bytes"],
        "store_bytes": store_bytes,
        "store_to_parquet": store_bytes / build["parquet_bytes"],
    }


def build_figures(build: dict[str, Any]) -> dict[str, Any]:
    """Return the synth and ingest seconds recorded when the build was made."""
    return {
        "reused": build["reused"],
        "rows": build["num_rows"],
        "synth_seconds": build["synth_seconds"],
        "ingest_seconds": build["ingest_seconds"],
        "ingest_rows_per_second": build["num_rows"] / build["ingest_seconds"],
        "parquet_bytes": build["parquet_bytes"],
        "store_bytes": build["store_bytes"],
    }
