"""Small helpers shared by test modules that read tf.data pipelines."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def collect_batches(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Concatenate every batch of one pass: ``(inputs, targets, batch sizes)``."""
    inputs, targets, sizes = [], [], []
    for batch_inputs, batch_targets in dataset:
        inputs.append(batch_inputs.numpy())
        targets.append(batch_targets.numpy())
        sizes.append(int(batch_inputs.shape[0]))
    return np.concatenate(inputs), np.concatenate(targets), sizes
