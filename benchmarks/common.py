"""Shared pieces of the benchmarks: the workload, cached data sets, timing and memory probes.

The workload mirrors a typical many-series forecasting job: hourly customers of 2,000 steps
with 17 float32 features, windows of 168 steps and a next-step target of one column. Batches
contain 256 windows, and a time cutoff leaves the last 200 hours (10 %) of each series for
validation.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
RESULTS_DIR = BENCH_DIR / "results"
REPO_DIR = BENCH_DIR.parent

NUM_STEPS = 2000
NUM_FEATURES = 17
SEQUENCE_LENGTH = 168
BATCH_SIZE = 256
VALIDATION_HOURS = 200
TARGET_COLUMNS = ["f00"]
SEED = 0


def validation_cutoff() -> str:
    """Return the ISO time that leaves the last 200 hours of every series for validation."""
    from tsfeed.synth import START_TIME

    cutoff = START_TIME + np.timedelta64(NUM_STEPS - VALIDATION_HOURS, "h")
    return f"{cutoff.astype('datetime64[s]')}Z"


def window_spec(sequence_stride: int = 1) -> Any:
    """Return the benchmark's window rule: 168 steps, next-step target."""
    import tsfeed

    return tsfeed.WindowSpec(SEQUENCE_LENGTH, sequence_stride=sequence_stride, horizon=1)


def rss_anon_bytes(pid: int | str = "self") -> int:
    """Read RssAnon (resident anonymous memory, so no page cache or file maps) of a process."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("RssAnon is missing from /proc/<pid>/status; Linux 4.5 or later is needed.")


def mem_available_bytes() -> int:
    """Read MemAvailable from /proc/meminfo."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def median_time(function: Callable[[], object], repeats: int = 3) -> tuple[float, list[float]]:
    """Time ``function`` ``repeats`` times and return the median and all durations in seconds."""
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), durations


def folder_bytes(folder: Path) -> int:
    """Sum the sizes of the files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def machine_info() -> dict[str, Any]:
    """Describe the CPU and the versions of the measured stack."""
    import keras
    import pyarrow
    import tensorflow as tf

    model = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "mem_total_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "platform": platform.platform(),
    }


def prepared_store(
    name: str,
    *,
    num_series: int,
    num_steps: int = NUM_STEPS,
    num_features: int = NUM_FEATURES,
    short_fraction: float = 0.1,
    target_columns: list[str] | None = None,
) -> dict[str, Any]:
    """Write synthetic data and ingest it under benchmarks/out, reusing an earlier build.

    A build is reused when its recorded parameters equal the requested ones. Returns the
    build record: paths, parameters, and the seconds and sizes of the synth and ingest steps.
    """
    import tsfeed
    from tsfeed.synth import write_synthetic

    params = {
        "num_series": num_series,
        "num_steps": num_steps,
        "num_features": num_features,
        "short_fraction": short_fraction,
        "target_columns": target_columns or TARGET_COLUMNS,
        "seed": SEED,
        "tsfeed": tsfeed.__version__,
    }
    folder = OUT_DIR / name
    record_path = folder / "build.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("params") == params and Path(record["store"]).exists():
            record["reused"] = True
            return record
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"  building {name}: {num_series} series x {num_steps} steps ...", flush=True)

    started = time.perf_counter()
    write_synthetic(
        folder / "parquet",
        num_series=num_series,
        num_steps=num_steps,
        num_features=num_features,
        seed=SEED,
        short_fraction=short_fraction,
    )
    synth_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store = tsfeed.ingest(
        folder / "parquet",
        folder / "store",
        series_column="customer_id",
        time_column="timestamp",
        target_columns=params["target_columns"],
    )
    ingest_seconds = time.perf_counter() - started
    record = {
        "params": params,
        "parquet": str(folder / "parquet"),
        "store": str(folder / "store"),
        "num_rows": store.num_rows,
        "synth_seconds": synth_seconds,
        "ingest_seconds": ingest_seconds,
        "parquet_bytes": folder_bytes(folder / "parquet"),
        "store_bytes": folder_bytes(folder / "store"),
    }
    record_path.write_text(json.dumps(record, indent=2))
    record["reused"] = False
    print(f"  built {name} in {synth_seconds + ingest_seconds:.1f} s", flush=True)
    return record


class Recorder:
    """Collect named results; a case that raises is recorded as failed with its reason."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def run(self, name: str, case: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """Run one case, print its outcome and store its result under ``name``."""
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        started = time.perf_counter()
        try:
            result = case()
        except Exception as err:
            # A broken case is recorded and the suite goes on. TensorFlow errors raised through
            # AutoGraph carry the original message on their last line.
            lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [""]
            reason = f"{type(err).__name__}: {lines[-1]}"[:300]
            self.results[name] = {"status": "failed", "reason": reason}
            print(f"    FAILED: {reason}", flush=True)
            traceback.print_exc(limit=3)
            return None
        result.setdefault("status", "ok")
        result["case_seconds"] = round(time.perf_counter() - started, 2)
        self.results[name] = result
        print(f"    {summarize(result)}", flush=True)
        return result


def summarize(result: dict[str, Any]) -> str:
    """Render the scalar fields of a result on one line."""
    parts = []
    for key, value in result.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:,.3g}" if abs(value) < 1000 else f"{key}={value:,.0f}")
        elif isinstance(value, int | str | bool) and key != "status":
            parts.append(f"{key}={value}")
    return ", ".join(parts)[:400]
