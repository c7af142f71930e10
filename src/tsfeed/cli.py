"""The ``tsfeed`` command: ingest tables, inspect and verify stores, make synthetic data.

The command parses arguments, configures logging, calls the library and prints a summary. Bad
input makes it exit with status 2 and a one-line message; ``--verbose`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tsfeed.errors import TsfeedError

logger = logging.getLogger(__name__)

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.run(args)
    except (
        TsfeedError,
        ValueError,
        TypeError,
        FileNotFoundError,
        FileExistsError,
        KeyError,
    ) as err:
        if args.verbose:
            raise
        print(f"tsfeed {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of the output went away, as with `| head`; that is not an error.
        sys.stderr.close()
        return 0
    return result


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsfeed", description="Sliding windows over many series.")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="debug logging and full tracebacks"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="read CSV, Parquet or Arrow files into a store")
    ingest.add_argument("source", nargs="+", help="input files or folders")
    ingest.add_argument("store", help="folder of the new store")
    ingest.add_argument(
        "--series-column",
        action="append",
        help="series id column; repeat for a composite id; omit for a single series",
    )
    ingest.add_argument("--time-column", required=True, help="timestamp or integer time column")
    ingest.add_argument("--features", type=_column_list, help="comma-separated feature columns")
    ingest.add_argument("--targets", type=_column_list, help="comma-separated target columns")
    ingest.add_argument("--missing", default="error", choices=["error", "ffill", "drop"])
    ingest.add_argument("--gaps", default="error", choices=["error", "split", "fill", "ignore"])
    ingest.add_argument(
        "--step", help="time between steps, such as 1h or 15min (default: inferred)"
    )
    ingest.add_argument(
        "--duplicates", default="error", choices=["error", "keep_first", "keep_last"]
    )
    ingest.add_argument("--overwrite", action="store_true", help="replace an existing store")
    ingest.add_argument("--backend", default="pyarrow", choices=["pyarrow", "tfio"])
    ingest.set_defaults(run=_run_ingest)

    append = commands.add_parser("append", help="add new rows or series to a store, atomically")
    append.add_argument("source", nargs="+", help="input files or folders")
    append.add_argument("store", help="an existing store")
    append.add_argument(
        "--duplicates",
        choices=["error", "keep_first", "keep_last"],
        help="policy for timestamps already in the store (default: the store's)",
    )
    append.set_defaults(run=_run_append)

    info = commands.add_parser("info", help="print a store's columns and series counts")
    info.add_argument("store")
    info.add_argument(
        "--sequence-length",
        type=int,
        help="also count the windows of this many steps, and those lost to gaps and missing values",
    )
    info.add_argument("--horizon", type=int, default=1, help="target steps after the window")
    info.set_defaults(run=_run_info)

    verify = commands.add_parser("verify", help="check every shard's size and checksum")
    verify.add_argument("store")
    verify.set_defaults(run=_run_verify)

    _add_optional_commands(commands)
    return parser


def _add_optional_commands(commands: Any) -> None:
    # synth and bench live in modules that may import heavier packages, so they load on use.
    synth = commands.add_parser("synth", help="write a synthetic long-format Parquet dataset")
    synth.add_argument("output", help="folder for the Parquet files")
    synth.add_argument("--series", type=int, default=200, help="number of series (customers)")
    synth.add_argument("--steps", type=int, default=2000, help="hourly steps per series")
    synth.add_argument("--features", type=int, default=17, help="feature columns")
    synth.add_argument("--missing-fraction", type=float, default=0.0, help="share of null values")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(run=_run_synth)

    bench = commands.add_parser("bench", help="measure windows per second on your own store")
    bench.add_argument("store")
    bench.add_argument("--sequence-length", type=int, default=168)
    bench.add_argument("--sampling-rate", type=int, default=1)
    bench.add_argument("--horizon", type=int, default=1)
    bench.add_argument("--batch-size", type=int, default=256)
    bench.add_argument("--batches", type=int, default=200, help="batches to time")
    bench.set_defaults(run=_run_bench)


def _column_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated column names")
    return names


def _progress_bar() -> Callable[[str, int, int], None]:
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional; fall back to log lines
        return lambda stage, done, total: logger.info("%s: %d of %d", stage, done, total)
    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            unit = "B" if stage == "read" else "bucket"
            # disable=None turns the bar off when stderr is not a terminal.
            bars[stage] = tqdm(
                total=total, desc=stage, unit=unit, unit_scale=stage == "read", disable=None
            )
        bar = bars[stage]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _run_ingest(args: argparse.Namespace) -> int:
    from tsfeed.ingest import ingest

    series = args.series_column
    store = ingest(
        args.source,
        args.store,
        series_column=series[0] if series and len(series) == 1 else series,
        time_column=args.time_column,
        feature_columns=args.features,
        target_columns=args.targets,
        missing=args.missing,
        gaps=args.gaps,
        step=args.step,
        duplicates=args.duplicates,
        overwrite=args.overwrite,
        backend=args.backend,
        progress=_progress_bar(),
    )
    print(f"wrote {store.num_series} series, {store.num_rows} rows to {store.path}")
    return 0


def _run_append(args: argparse.Namespace) -> int:
    from tsfeed.append import append

    store = append(args.source, args.store, duplicates=args.duplicates, progress=_progress_bar())
    print(f"store now has {store.num_series} series, {store.num_rows} rows ({store.version_path})")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from tsfeed.store import open_store

    store = open_store(args.store)
    steps = store.num_steps
    print(f"store      {store.version_path}")
    print(
        f"series     {store.num_series} (steps min {steps.min()}, median "
        f"{int(sorted(steps)[len(steps) // 2])}, max {steps.max()})"
    )
    print(f"rows       {store.num_rows}")
    print(f"features   {', '.join(store.feature_columns)}")
    print(f"targets    {', '.join(store.target_columns)}")
    print(f"time       {store.meta['time_column']} ({store.time_kind}, zone {store.time_zone})")
    print(f"shards     {len(store.meta['shards'])}")
    print(f"policies   {store.meta.get('policies')}")
    if args.sequence_length:
        from tsfeed.split import count_windows_lost_to_runs
        from tsfeed.windows import WindowSpec

        spec = WindowSpec(args.sequence_length, horizon=args.horizon)
        kept = count_windows_lost_to_runs(store, spec, kept=True)
        lost = count_windows_lost_to_runs(store, spec)
        print(f"windows    {kept:,} of {spec.sequence_length} steps, horizon {spec.horizon}")
        print(f"lost       {lost:,} to gaps and missing values (no cutoff applied)")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    from tsfeed.store import open_store

    store = open_store(args.store)
    problems = store.verify()
    for problem in problems:
        print(f"damaged: {problem}")
    if problems:
        print(f"{len(problems)} of {len(store.meta['shards'])} shards are damaged; re-ingest.")
        return 1
    print(f"all {len(store.meta['shards'])} shards intact")
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    from tsfeed.synth import write_synthetic

    bar = _progress_bar()
    path = write_synthetic(
        args.output,
        num_series=args.series,
        num_steps=args.steps,
        num_features=args.features,
        missing_fraction=args.missing_fraction,
        seed=args.seed,
        progress=lambda done, total: bar("synth", done, total),
    )
    print(f"wrote {args.series} series x {args.steps} steps x {args.features} features to {path}")
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from tsfeed.bench import run_store_benchmark

    report = run_store_benchmark(
        args.store,
        sequence_length=args.sequence_length,
        sampling_rate=args.sampling_rate,
        horizon=args.horizon,
        batch_size=args.batch_size,
        num_batches=args.batches,
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
