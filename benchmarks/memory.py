"""Memory probes, each run in a fresh subprocess so that one peak never includes another.

The parent samples the child's RssAnon from /proc every 10 ms and keeps the maximum. The child
reports RssAnon at its own milestones as one JSON line on stdout. RssAnon counts anonymous
resident memory only, so neither the page cache nor the memory-mapped shards are in it.

Run as a script, this module is the child: ``memory.py gather STORE NUM_BATCHES`` iterates
the gather engine's training batches, ``memory.py open STORE`` opens a store and reads one
window without importing TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import rss_anon_bytes, validation_cutoff, window_spec

_SAMPLE_SECONDS = 0.01


def probe(mode: str, *arguments: str, timeout: float = 900) -> dict[str, Any]:
    """Run this module as a child in ``mode`` and return its milestones and sampled peak."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, str(Path(__file__).resolve()), mode, *arguments]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
        peak = 0
        deadline = time.monotonic() + timeout
        while child.poll() is None:
            # The child may exit between poll() and the read.
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                peak = max(peak, rss_anon_bytes(child.pid))
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                raise TimeoutError(f"memory probe {mode} ran longer than {timeout:.0f} s")
            time.sleep(_SAMPLE_SECONDS)
        stdout.seek(0)
        stderr.seek(0)
        lines = stdout.read().decode().strip().splitlines()
        if child.returncode != 0 or not lines:
            tail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"memory probe {mode} exited {child.returncode}: {' | '.join(tail)}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["peak_rss_anon"] = max(peak, *result.get("milestones", {}).values())
    return result


def _child_gather(store_path: str, num_batches: int) -> dict[str, Any]:
    milestones = {"start": rss_anon_bytes()}
    import tensorflow as tf

    milestones["after_import_tensorflow"] = rss_anon_bytes()
    import tsfeed

    train, _ = tsfeed.make_datasets(
        store_path,
        window_spec(),
        validation_cutoff=validation_cutoff(),
        cache_validation=False,
        seed=5,
    )
    milestones["after_make_datasets"] = rss_anon_bytes()
    started = time.perf_counter()
    seen = 0
    for inputs, _targets in train.take(num_batches):
        seen += int(inputs.shape[0])
    seconds = time.perf_counter() - started
    milestones["after_iteration"] = rss_anon_bytes()
    return {
        "milestones": milestones,
        "windows": seen,
        "windows_per_second": seen / seconds,
        "tensorflow": tf.__version__,
    }


def _child_open(store_path: str) -> dict[str, Any]:
    import numpy as np

    import tsfeed

    milestones = {"after_import_tsfeed": rss_anon_bytes()}
    store = tsfeed.open_store(store_path)
    milestones["after_open_store"] = rss_anon_bytes()
    data = store.series(store.num_series // 2)
    begin = len(data.features) // 2
    window = np.array(data.features[begin : begin + 168])
    target = np.array(data.targets[begin + 168])
    milestones["after_one_window"] = rss_anon_bytes()
    return {
        "milestones": milestones,
        "tensorflow_imported": "tensorflow" in sys.modules,
        "window_shape": list(window.shape),
        "target_shape": list(target.shape),
        "num_series": store.num_series,
        "num_rows": store.num_rows,
    }


if __name__ == "__main__":
    if sys.argv[1] == "gather":
        print(json.dumps(_child_gather(sys.argv[2], int(sys.argv[3]))))
    elif sys.argv[1] == "open":
        print(json.dumps(_child_open(sys.argv[2])))
    else:
        raise SystemExit(f"unknown mode {sys.argv[1]!r}; expected 'gather' or 'open'")
