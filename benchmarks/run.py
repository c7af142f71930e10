"""Run the tsfeed benchmark suite and write results/latest.json, BENCHMARKS.md and two plots.

Usage: ``python benchmarks/run.py --quick`` (200 and 2,000 series, a few minutes) or
``--full`` (adds 20,000 series: about 3 GB of Parquet, and a longer run). Every figure of a
run comes from this one process, except the memory probes, which each get a fresh subprocess,
so ratios between figures are comparable even on a busy machine. Data sets are built once
under benchmarks/out and reused while their parameters stay the same.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import baselines
import cases
import memory
import report
import training
from common import RESULTS_DIR, Recorder, machine_info, prepared_store

GATHER_BATCHES = 400
KERAS_BATCHES = 20
BASELINE_BATCHES = 30
PROBE_BATCHES = 1000


def main() -> None:
    """Parse the size option, run every case, and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="200 and 2,000 series (default)")
    size.add_argument("--full", action="store_true", help="also 20,000 series")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="render BENCHMARKS.md and the plots again from results/latest.json, measuring nothing",
    )
    args = parser.parse_args()
    if args.report_only:
        report.write_all(json.loads((RESULTS_DIR / "latest.json").read_text()))
        return
    logging.basicConfig(level=logging.WARNING, format="    %(name)s: %(message)s")
    series_counts = [200, 2000, 20000] if args.full else [200, 2000]

    started = time.perf_counter()
    recorder = Recorder()
    results: dict[str, Any] = {
        "mode": "full" if args.full else "quick",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine_info(),
        "series_counts": series_counts,
    }
    print(f"tsfeed benchmarks ({results['mode']}) on {results['machine']['cpu_model']}", flush=True)

    builds = {n: prepared_store(f"customers-{n}", num_series=n) for n in series_counts}
    long_build = prepared_store(
        "long-series", num_series=1, num_steps=1_000_000, num_features=8, short_fraction=0.0
    )
    wide_build = prepared_store(
        "ten-series-200mb", num_series=10, num_steps=625_000, num_features=8, short_fraction=0.0
    )
    for n, build in builds.items():
        recorder.run(f"build/{n}", lambda build=build: cases.build_figures(build))

    _measure_engines(recorder, builds)
    _measure_baselines(recorder, builds[200])
    recorder.run("lstm/2000", lambda: training.lstm_ratio(builds[2000]["store"]))
    recorder.run("ingest/200", lambda: cases.ingest_rate(builds[200]))
    for n, build in builds.items():
        recorder.run(
            f"memory/gather/{n}",
            lambda build=build: memory.probe("gather", build["store"], str(PROBE_BATCHES)),
        )
    recorder.run("memory/open_store", lambda: memory.probe("open", wide_build["store"]))
    recorder.run("long_series", lambda: training.long_series(long_build["store"]))

    results["results"] = recorder.results
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2, default=float))
    report.write_all(results)
    print(f"done in {results['total_seconds']:.0f} s: {RESULTS_DIR / 'latest.json'}", flush=True)


def _measure_engines(recorder: Recorder, builds: dict[int, dict[str, Any]]) -> None:
    recorder.run("correctness/first_batch", lambda: cases.engines_agree(builds[200]))
    recorder.run("copy_limit", cases.copy_limit)
    for n, build in builds.items():
        recorder.run(
            f"train/gather/{n}",
            lambda build=build: cases.engine_training(build, "gather", GATHER_BATCHES),
        )
        recorder.run(
            f"train/keras/{n}",
            lambda build=build: cases.engine_training(build, "keras", KERAS_BATCHES),
        )
        # The default in-memory validation cache stores every validation window, so the cached
        # pass runs at 200 series only. Larger runs record the bytes it would need.
        recorder.run(
            f"validation/{n}",
            lambda build=build, n=n: cases.validation_passes(
                build, cached=n <= 200, repeats=3 if n <= 2000 else 1
            ),
        )
        recorder.run(
            f"first_batch/{n}",
            lambda build=build: cases.first_batch(build, cache_validation=False),
        )
    recorder.run(
        "first_batch/200/cache_validation",
        lambda: cases.first_batch(builds[200], cache_validation=True),
    )


def _measure_baselines(recorder: Recorder, build: dict[str, Any]) -> None:
    arrays = baselines.training_arrays(build["store"])
    recorder.run(
        "baseline/sample_from_datasets/200",
        lambda: baselines.sample_from_datasets(arrays, BASELINE_BATCHES),
    )
    recorder.run("baseline/interleave/200", lambda: baselines.interleave_attempt(arrays))
    recorder.run(
        "baseline/timeseries_generator/200",
        lambda: baselines.timeseries_generator(arrays, GATHER_BATCHES),
    )
    recorder.run("baseline/materialize/200", lambda: baselines.materialize(arrays))


if __name__ == "__main__":
    main()
