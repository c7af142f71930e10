"""Train a Keras LSTM on hourly weather at the three New York airports, fed by tsfeed.

The script ingests data/nyc_weather_2013.csv (3 series, one per airport) into a store, builds
168-hour windows whose target is the next hour's temperature, splits each airport at
2013-11-01 00:00 UTC, and trains a small LSTM with a TensorBoard callback. It prints the final
training and validation loss next to a naive forecast that repeats the last observed
temperature.

Run it with ``make demo``, or ``python examples/train_lstm.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

import tsfeed

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "nyc_weather_2013.csv"
FEATURES = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib"]
TARGET = "temp"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="input CSV file")
    parser.add_argument(
        "--output", type=Path, default=REPO / "runs", help="folder for the store and logs"
    )
    parser.add_argument("--epochs", type=int, default=5, help="training epochs")
    parser.add_argument("--sequence-length", type=int, default=168, help="input hours per window")
    parser.add_argument("--batch-size", type=int, default=256, help="windows per batch")
    parser.add_argument("--cutoff", default="2013-11-01T00:00:00Z", help="first validation time")
    parser.add_argument("--seed", type=int, default=42, help="seed of the shuffle and the weights")
    return parser.parse_args(argv)


def build_model(sequence_length: int, num_features: int, sample: tf.Tensor) -> tf.keras.Model:
    """Build an LSTM that predicts the change of the target from its last observed value."""
    normalize = tf.keras.layers.Normalization(axis=-1)
    normalize.adapt(sample)
    inputs = tf.keras.Input((sequence_length, num_features))
    hidden = tf.keras.layers.LSTM(32)(normalize(inputs))
    change = tf.keras.layers.Dense(1)(hidden)
    last_value = inputs[:, -1, FEATURES.index(TARGET) : FEATURES.index(TARGET) + 1]
    model = tf.keras.Model(inputs, tf.keras.layers.Add()([last_value, change]))
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    return model


def naive_loss(dataset: tf.data.Dataset) -> float:
    """Mean squared error of repeating the last observed target value."""
    errors = []
    column = FEATURES.index(TARGET)
    for inputs, targets in dataset:
        errors.append((targets.numpy()[:, 0] - inputs.numpy()[:, -1, column]) ** 2)
    return float(np.concatenate(errors).mean())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    tf.keras.utils.set_random_seed(args.seed)

    store_path = args.output / "weather_store"
    print(f"Ingesting {args.data} into {store_path}")
    # The file has missing values (for example pressure) and 45 gaps of 2 to 6 hours. Both are
    # handled explicitly: missing hours become rows on the hourly grid, and every missing value
    # takes the last observed value of its column.
    store = tsfeed.ingest(
        args.data,
        store_path,
        series_column="origin",
        time_column="time_hour",
        feature_columns=FEATURES,
        target_columns=[TARGET],
        missing="ffill",
        gaps="fill",
        step="1h",
        overwrite=True,
    )
    print(store)

    spec = tsfeed.WindowSpec(sequence_length=args.sequence_length, horizon=1)
    train, validation = tsfeed.make_datasets(
        store, spec, validation_cutoff=args.cutoff, batch_size=args.batch_size, seed=args.seed
    )
    assert validation is not None
    print(
        f"{int(train.cardinality())} training batches, {int(validation.cardinality())} "
        f"validation batches of up to {args.batch_size} windows of {args.sequence_length} hours"
    )

    sample = tf.concat([inputs for inputs, _ in train.take(8)], axis=0)
    model = build_model(args.sequence_length, len(FEATURES), sample)
    log_dir = args.output / "tensorboard" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    print(f"TensorBoard logs: {log_dir}")
    print(f"  view them with: tensorboard --logdir {args.output / 'tensorboard'}")
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=[tf.keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=1)],
        shuffle=False,  # tsfeed already shuffles; Keras cannot shuffle a tf.data.Dataset
        verbose=2,
    )

    train_loss = history.history["loss"][-1]
    validation_loss = history.history["val_loss"][-1]
    baseline_train = naive_loss(train)
    baseline_validation = naive_loss(validation)
    print()
    print("mean squared error of next-hour temperature (degrees F squared)")
    print(f"  {'':12s} {'LSTM':>10s} {'last value':>12s}")
    print(f"  {'training':12s} {train_loss:10.3f} {baseline_train:12.3f}")
    print(f"  {'validation':12s} {validation_loss:10.3f} {baseline_validation:12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
