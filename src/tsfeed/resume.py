"""Saving the position of a training run, so that a restart finishes the epoch exactly once.

The order of every epoch is a pure function of ``(seed, epoch)``, so a position is just two
numbers: the epoch and the batches of it that the model has consumed. :class:`PositionCallback`
counts batches as Keras consumes them (not as the loader prefetches them) and writes the
position to a small JSON file; after a restart, :func:`load_position` reads it back for
``make_datasets(first_epoch=..., first_batch=...)`` and ``fit(initial_epoch=...)``::

    epoch, batch = tsfeed.resume.load_position("run/position.json")
    train, validation = tsfeed.make_datasets(store, spec, validation_cutoff=cutoff, seed=7,
                                             first_epoch=epoch, first_batch=batch)
    if epoch or batch:
        model = keras.models.load_model("run/model.keras")
    model.fit(train, validation_data=validation, epochs=10, initial_epoch=epoch,
              callbacks=[tsfeed.resume.PositionCallback("run/position.json", save_freq=100,
                                                        model_path="run/model.keras")])

The callback saves the model before the position, so the position never runs ahead of the
weights: a restart may redo the batches since the last save, but never skips one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import tensorflow as tf

logger = logging.getLogger(__name__)

__all__ = ["PositionCallback", "load_position"]


def load_position(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Read ``(epoch, batch)`` from a position file; ``(0, 0)`` when it does not exist yet.

    Raises:
        ValueError: If the file exists but does not hold a position.
    """
    file = Path(path)
    if not file.exists():
        return 0, 0
    try:
        data = json.loads(file.read_text())
        return int(data["epoch"]), int(data["batch"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{file} is not a tsfeed position file: {err}") from err


class PositionCallback(tf.keras.callbacks.Callback):  # type: ignore[misc]
    """Write the training position to a JSON file every ``save_freq`` batches and per epoch.

    Args:
        path: The position file, replaced atomically on every save.
        save_freq: Batches between saves.
        model_path: Where to save the model (``model.save``) just before each position, or
            None to save only the position.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        save_freq: int = 100,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        if save_freq < 1:
            raise ValueError(f"save_freq must be at least 1, got {save_freq}.")
        self.path = Path(path)
        self.save_freq = save_freq
        self.model_path = None if model_path is None else Path(model_path)
        self.epoch, self.batch = load_position(self.path)
        self._batches_this_call = 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if epoch != self.epoch:
            self.epoch, self.batch = epoch, 0
        self._batches_this_call = 0

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.batch += 1
        self._batches_this_call += 1
        if self.batch % self.save_freq == 0:
            self.save()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        # An epoch stopped early (stop_training set inside it) stays open at its batch. Keras
        # reports the epoch's length, except in a resumed epoch, whose dataset has no known
        # length.
        steps = self.params.get("steps") if self.params else None
        finished = self._batches_this_call >= steps if steps else not self.model.stop_training
        if finished:
            self.epoch, self.batch = epoch + 1, 0
        self.save()

    def save(self) -> None:
        """Save the model, if a path was given, then write the current position."""
        if self.model_path is not None:
            self.model.save(self.model_path)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"epoch": self.epoch, "batch": self.batch}))
        os.replace(temporary, self.path)
        logger.debug("saved position epoch %d, batch %d to %s", self.epoch, self.batch, self.path)
