"""Training and validation ``tf.data`` pipelines over a store.

:func:`make_datasets` validates its arguments, splits each series at the cutoff
(:mod:`tsfeed.split`) and hands each side to an engine:

* ``"gather"`` (default): a stream of batch numbers; each batch's window ranks come from a seeded
  permutation (:mod:`tsfeed.shuffle`) and its windows are copied from the memory maps in one
  NumPy gather per shard (:mod:`tsfeed.gather`), inside a parallel ``map`` with ``prefetch``.
* ``"keras"``: per-series ``keras.utils.timeseries_dataset_from_array``, interleaved across series;
  the reference for the window rule, and much slower (see :mod:`tsfeed.engines.keras_series`).

Both yield ``(inputs, targets)`` batches. The validation side is unshuffled, cached, and filled
once at build time so that every epoch sees the same finite set of batches.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from tsfeed.errors import NoWindowsError
from tsfeed.gather import WindowGather
from tsfeed.shuffle import WindowOrder, draw_seed
from tsfeed.split import Cutoff, split_windows
from tsfeed.store import Store, open_store
from tsfeed.windows import WindowIndex, WindowSpec

logger = logging.getLogger(__name__)

ENGINES = ("gather", "keras")
_BATCHES_PER_BLOCK = 32
_CACHED_BLOCKS = 4
_MEMORY_CACHE_WARNING_BYTES = 2 << 30

__all__ = ["ENGINES", "make_datasets"]


@dataclasses.dataclass(frozen=True)
class _Options:
    batch_size: int
    drop_remainder: bool
    num_parallel_calls: int
    prefetch: int


def make_datasets(
    store: Store | str | os.PathLike[str],
    spec: WindowSpec,
    *,
    validation_cutoff: object,
    batch_size: int = 256,
    shuffle: bool = True,
    seed: int | None = None,
    drop_remainder: bool = False,
    validation_batch_size: int | None = None,
    cache_validation: bool | str | os.PathLike[str] = True,
    engine: str = "gather",
    num_parallel_calls: int | None = None,
    prefetch: int | None = None,
    first_epoch: int = 0,
    first_batch: int = 0,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Build the training and validation datasets of ``(inputs, targets)`` batches.

    Inputs have shape ``(batch, sequence_length, num_features)``. Targets have shape
    ``(batch, num_targets)``, or ``(batch, target_width, num_targets)`` when
    ``spec.target_width > 1``. Both are float32.

    Args:
        store: An open store or its folder.
        spec: The window rule.
        validation_cutoff: Where validation begins in each series: a time (datetime,
            ``numpy.datetime64`` or ISO string), an int number of final steps, a float
            fraction, a :class:`tsfeed.Cutoff`, or None for no validation set.
        batch_size: Windows per training batch.
        shuffle: Shuffle training windows across all series, with a new order each epoch.
        seed: Seed of the shuffle. None draws one and logs it. The order of epoch ``e`` is a
            pure function of ``(seed, e)``.
        drop_remainder: Drop the last, smaller training batch, giving a static batch dimension.
        validation_batch_size: Windows per validation batch; defaults to ``batch_size``. The
            last validation batch is never dropped.
        cache_validation: True caches validation batches in memory, a path caches them in
            that file, False reads them from the shards every epoch.
        engine: ``"gather"`` or ``"keras"``.
        num_parallel_calls: Batches built at once; defaults to ``tf.data.AUTOTUNE``.
        prefetch: Batches prepared ahead; defaults to ``tf.data.AUTOTUNE``.
        first_epoch: Number of the first epoch that the training dataset yields. Each new
            iteration of it (one per Keras epoch) takes the next number.
        first_batch: Batch of ``first_epoch`` at which the first iteration starts, to resume an
            interrupted epoch (see :mod:`tsfeed.resume`). The first iteration then yields only
            the remaining batches, and the training dataset's cardinality is unknown.

    Returns:
        ``(train, validation)``; ``validation`` is None when ``validation_cutoff`` is None.

    Raises:
        ValueError: If an argument is invalid.
        NoWindowsError: If no series has room for one window, or a side of the split is empty.
    """
    _check_positive("batch_size", batch_size)
    if validation_batch_size is not None:
        _check_positive("validation_batch_size", validation_batch_size)
    if not isinstance(spec, WindowSpec):
        raise TypeError(f"spec must be a tsfeed.WindowSpec, got {type(spec).__name__}.")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63
    ):
        raise TypeError(f"seed must be None or an integer in [0, 2**63), got {seed!r}.")
    if shuffle and seed is None:
        seed = draw_seed()
        logger.info("no seed given; shuffling with seed=%d (pass it to repeat this order)", seed)
    store = store if isinstance(store, Store) else open_store(store)
    store.check_shard_sizes()
    cutoff = None if validation_cutoff is None else Cutoff.coerce(validation_cutoff)

    started = time.monotonic()
    split = split_windows(store, spec, cutoff)
    _check_sides(store, split.train, split.validation, cutoff)
    options = _Options(
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
        prefetch=prefetch or tf.data.AUTOTUNE,
    )
    if engine == "keras":
        if first_epoch or first_batch:
            raise ValueError("first_epoch and first_batch need engine='gather'.")
        from tsfeed.engines.keras_series import keras_dataset

        train = keras_dataset(store, split.train, options.batch_size, shuffle, seed, drop_remainder)
    else:
        position = (first_epoch, first_batch)
        train = _gather_train(store, split.train, options, seed if shuffle else None, position)
    validation = None
    if split.validation is not None:
        validation = _validation(
            store, split.validation, validation_batch_size or batch_size, cache_validation, options
        )
    logger.info(
        "datasets ready in %.2f s: %d training windows, %d validation windows, engine %s",
        time.monotonic() - started,
        split.train.num_windows,
        split.validation.num_windows if split.validation is not None else 0,
        engine,
    )
    return train, validation


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")


def _check_sides(
    store: Store, train: WindowIndex, validation: WindowIndex | None, cutoff: Cutoff | None
) -> None:
    if cutoff is None or (train.num_windows and validation and validation.num_windows):
        return
    side = "training" if not train.num_windows else "validation"

    if cutoff.kind == "time":
        first = int(store.first_time.min())
        last = int(store.last_time.max())
        span = f" The series cover time values {_format(store, first)} to {_format(store, last)}."
    else:
        span = (
            f" The series have {int(store.num_steps.min())} to {int(store.num_steps.max())} "
            f"steps, and a window needs {train.spec.rows_needed} consecutive steps."
        )
        if cutoff.kind == "last_steps" and store.time_kind == "integer":
            span += " For a point on the integer time axis, pass tsfeed.Cutoff.at(value)."
    raise NoWindowsError(
        f"validation_cutoff={cutoff.text} leaves no {side} window.{span} Move the cutoff so "
        "that both sides have room for a window, or pass validation_cutoff=None."
    )


def _format(store: Store, value: int) -> str:
    if store.time_kind == "integer":
        return str(value)
    return str(np.datetime64(value, "ns").astype("datetime64[s]"))


def _signature(gather: WindowGather) -> tuple[tf.TensorSpec, tf.TensorSpec]:
    spec = gather.spec
    return (
        tf.TensorSpec((None, spec.sequence_length, gather.num_features), tf.float32),
        tf.TensorSpec((None, *gather.target_shape), tf.float32),
    )


def _batch_loader(
    gather: WindowGather, batch_size: int, seed: int | None
) -> Callable[[np.int64, np.int64], tuple[np.ndarray, np.ndarray]]:
    """Return a NumPy function ``(epoch, batch) -> (inputs, targets)``."""
    num_windows = gather.index.num_windows
    block_size = batch_size * _BATCHES_PER_BLOCK
    blocks: dict[tuple[int, int], np.ndarray] = {}
    lock = threading.Lock()

    def ranks_of_block(epoch: int, block: int) -> np.ndarray:
        # Ranks are computed for many batches at once, because the permutation's cost is
        # mostly per call; parallel calls share the few most recent blocks.
        with lock:
            ranks = blocks.get((epoch, block))
        if ranks is None:
            begin = block * block_size
            positions = np.arange(begin, min(begin + block_size, num_windows), dtype=np.int64)
            ranks = WindowOrder(num_windows, seed, epoch).ranks(positions)
            with lock:
                blocks[(epoch, block)] = ranks
                while len(blocks) > _CACHED_BLOCKS:
                    blocks.pop(next(iter(blocks)))
        return ranks

    def load(epoch: np.int64, batch: np.int64) -> tuple[np.ndarray, np.ndarray]:
        block, within = divmod(int(batch) * batch_size, block_size)
        ranks = ranks_of_block(int(epoch), block)
        return gather.load(ranks[within : within + batch_size])

    return load


def _map_batches(
    keys: tf.data.Dataset,
    gather: WindowGather,
    batch_size: int,
    num_batches: int,
    seed: int | None,
    options: _Options,
    static_batch: int | None,
) -> tf.data.Dataset:
    load = _batch_loader(gather, batch_size, seed)
    input_spec, target_spec = _signature(gather)

    def to_tensors(epoch: tf.Tensor, batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        inputs, targets = tf.numpy_function(
            load, [epoch, batch], [tf.float32, tf.float32], stateful=False
        )
        inputs = tf.ensure_shape(inputs, (static_batch, *input_spec.shape[1:]))
        targets = tf.ensure_shape(targets, (static_batch, *target_spec.shape[1:]))
        return inputs, targets

    return keys.map(to_tensors, num_parallel_calls=options.num_parallel_calls, deterministic=True)


def _gather_train(
    store: Store,
    index: WindowIndex,
    options: _Options,
    seed: int | None,
    position: tuple[int, int],
) -> tf.data.Dataset:
    gather = WindowGather(store, index, group_by_shard=seed is not None)
    num_windows = index.num_windows
    if options.drop_remainder:
        num_batches = num_windows // options.batch_size
        if num_batches == 0:
            raise NoWindowsError(
                f"drop_remainder=True with batch_size={options.batch_size} leaves no training "
                f"batch: there are only {num_windows} training windows."
            )
    else:
        num_batches = -(-num_windows // options.batch_size)
    first_epoch, first_batch = position
    if not 0 <= first_batch < num_batches or first_epoch < 0:
        raise ValueError(
            f"cannot resume at epoch {first_epoch}, batch {first_batch}: an epoch has "
            f"{num_batches} batches, numbered from 0."
        )
    epochs = _EpochCounter(first_epoch, first_batch)
    keys = tf.data.Dataset.from_generator(
        epochs.next_epoch,
        output_signature=(tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64)),
    )
    keys = keys.flat_map(
        lambda epoch, start: tf.data.Dataset.range(start, num_batches).map(
            lambda batch: (epoch, batch)
        )
    )
    static_batch = options.batch_size if options.drop_remainder else None
    dataset = _map_batches(
        keys, gather, options.batch_size, num_batches, seed, options, static_batch
    )
    if first_batch == 0:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.prefetch(options.prefetch)


class _EpochCounter:
    """Hand out ``(epoch, first batch)``, one pair per iteration of the training dataset."""

    def __init__(self, first_epoch: int, first_batch: int) -> None:
        self._next = first_epoch
        self._first_batch = first_batch
        self._lock = threading.Lock()

    def next_epoch(self) -> Iterator[tuple[np.int64, np.int64]]:
        with self._lock:
            epoch, start = self._next, self._first_batch
            self._next += 1
            self._first_batch = 0
        logger.debug("training epoch %d begins at batch %d", epoch, start)
        yield np.int64(epoch), np.int64(start)


def _validation(
    store: Store,
    index: WindowIndex,
    batch_size: int,
    cache: bool | str | os.PathLike[str],
    options: _Options,
) -> tf.data.Dataset:
    gather = WindowGather(store, index)
    num_batches = -(-index.num_windows // batch_size)
    keys = tf.data.Dataset.range(num_batches).map(lambda batch: (tf.constant(0, tf.int64), batch))
    dataset = _map_batches(keys, gather, batch_size, num_batches, None, options, None)
    if cache is False:
        return dataset.prefetch(options.prefetch)
    num_bytes = (
        index.num_windows
        * 4
        * (
            index.spec.sequence_length * gather.num_features
            + index.spec.target_width * gather.num_targets
        )
    )
    if cache is True and num_bytes > _MEMORY_CACHE_WARNING_BYTES:
        logger.warning(
            "the validation cache will hold %.1f GB in memory (%d windows); pass "
            "cache_validation=<file path> to cache on disk, or False to read the shards each epoch",
            num_bytes / 1e9,
            index.num_windows,
        )
    filename = "" if cache is True else str(Path(cache))
    dataset = dataset.cache(filename)
    started = time.monotonic()
    # One full pass at build time fills the cache completely, so a later partial read (such as
    # take(1)) can never leave a truncated cache behind, and no epoch reads a shard again.
    for _ in dataset:
        pass
    logger.info(
        "validation cache filled: %d batches, %d windows, %.2f s",
        num_batches,
        index.num_windows,
        time.monotonic() - started,
    )
    return dataset.prefetch(options.prefetch)
