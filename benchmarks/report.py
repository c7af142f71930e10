"""Render a results dict of benchmarks/run.py as BENCHMARKS.md and two PNG plots."""

from __future__ import annotations

from typing import Any

from common import REPO_DIR

MB = 1e6


def write_all(results: dict[str, Any]) -> None:
    """Write BENCHMARKS.md at the repository root and the plots under benchmarks/results."""
    import plots

    (REPO_DIR / "BENCHMARKS.md").write_text(render_markdown(results))
    try:
        plots.plot_throughput(results)
        plots.plot_memory(results)
    except ImportError as err:
        print(f"plots skipped: {err}")


def value(results: dict[str, Any], case: str, *keys: str) -> Any:
    """Return a nested figure of a case, or None when the case failed or lacks it."""
    node: Any = results["results"].get(case)
    if not node or node.get("status") not in ("ok", None):
        return None
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def format_rate(number: float | None) -> str:
    return "n/a" if number is None else f"{number:,.0f}"


def format_ratio(number: float | None, base: float | None, digits: int = 3) -> str:
    if number is None or not base:
        return "n/a"
    ratio = number / base
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.{digits}g}x"


def format_seconds(number: float | None) -> str:
    return "n/a" if number is None else f"{number:.2f} s"


def format_mb(number: float | None) -> str:
    return "n/a" if number is None else f"{number / MB:,.0f} MB"


def _failure(results: dict[str, Any], case: str) -> str:
    node = results["results"].get(case, {})
    return str(node.get("reason", "not run"))


def _engine_row(results: dict[str, Any], name: str, case: str, n: int, key: str) -> tuple:
    rate = value(results, case, key)
    return (name, n, rate, "" if rate is not None else _failure(results, case))


def throughput_rows(results: dict[str, Any]) -> list[tuple[str, int, float | None, str]]:
    """List ``(approach, series, windows/s, note)`` rows of the throughput table.

    Series 0 marks rows that depend on no data set.
    """
    rows = []
    for n in results["series_counts"]:
        rows += [
            _engine_row(
                results,
                "tsfeed gather, training (shuffled)",
                f"train/gather/{n}",
                n,
                "windows_per_second",
            ),
            _engine_row(
                results,
                "tsfeed keras engine, training (shuffled)",
                f"train/keras/{n}",
                n,
                "windows_per_second",
            ),
            _engine_row(
                results,
                "tsfeed gather, validation from shards",
                f"validation/{n}",
                n,
                "uncached_windows_per_second",
            ),
        ]
        cached = value(results, f"validation/{n}", "cached_windows_per_second")
        need = format_mb(value(results, f"validation/{n}", "cache_bytes_estimate"))
        rows.append(
            (
                "tsfeed gather, validation from cache",
                n,
                cached,
                "" if cached else f"not run: the cache would hold {need}",
            )
        )
    sample = "baseline/sample_from_datasets/200"
    build = format_seconds(value(results, sample, "build_seconds"))
    first = format_seconds(value(results, sample, "first_batch_seconds"))
    rows.append(
        (
            "per-series `timeseries_dataset_from_array` + `sample_from_datasets`",
            200,
            value(results, sample, "windows_per_second"),
            f"per-series shuffle; build {build}, first batch {first}",
        )
    )
    interleave = results["results"].get("baseline/interleave/200", {})
    works = interleave.get("status") == "ok"
    rows.append(
        (
            "`timeseries_dataset_from_array` inside `Dataset.interleave`",
            200,
            None,
            "works" if works else f"fails: {interleave.get('reason', 'not run')}",
        )
    )
    generator = "baseline/timeseries_generator/200"
    straddling = value(results, generator, "straddling_windows_per_epoch")
    rows.append(
        (
            "tf-keras `TimeseriesGenerator`, one concatenated array",
            200,
            value(results, generator, "windows_per_second"),
            f"{straddling} windows per epoch straddle two series; shuffle draws with replacement",
        )
    )
    materialized = "baseline/materialize/200"
    rows.append(
        (
            "numpy: materialize every window",
            value(results, materialized, "num_series") or 200,
            value(results, materialized, "windows_per_second"),
            f"holds {format_mb(value(results, materialized, 'bytes'))}; the time includes "
            "first-touch page faults of the new array",
        )
    )
    rows.append(
        (
            "numpy copy limit, streaming from 512 MB",
            0,
            value(results, "copy_limit", "streaming_windows_per_second"),
            "copy of the same bytes into a preallocated batch",
        )
    )
    rows.append(
        (
            "numpy copy limit, cache-hot",
            0,
            value(results, "copy_limit", "cache_hot_windows_per_second"),
            "one block copied again and again",
        )
    )
    return rows


def table_row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def render_markdown(results: dict[str, Any]) -> str:
    """Render every table of the report."""
    from targets import targets_section

    machine = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python benchmarks/run.py --{results['mode']}` on {results['date']} in "
        f"{results['total_seconds']:.0f} s. All figures of a run come from one process (memory "
        "probes from fresh subprocesses), so compare ratios rather than absolute numbers: the "
        "machine is shared and noisy. Raw figures: `benchmarks/results/latest.json`.",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['mem_total_gb']} GB; "
        f"Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras "
        f"{machine['keras']}, NumPy {machine['numpy']}, pyarrow {machine['pyarrow']}.",
        "",
        "Workload: synthetic hourly customers (`tsfeed.synth.write_synthetic`), 2,000 steps each "
        "(10 % of them shorter), 17 float32 features, target `f00`; windows of 168 steps, "
        "next-step target, batches of 256; the last 200 hours of each series are validation. "
        "Windows per second (w/s) are medians of 3 runs unless noted.",
        "",
    ]
    lines += targets_section(results)
    lines += _throughput_section(results)
    lines += _startup_section(results)
    lines += _memory_section(results)
    lines += _lstm_section(results)
    lines += _ingest_section(results)
    lines += _long_series_section(results)
    failed = [
        f"- `{name}`: {node['reason']}"
        for name, node in results["results"].items()
        if node.get("status") == "failed"
    ]
    if failed:
        lines += ["## Cases that failed", "", *failed, ""]
    return "\n".join(lines) + "\n"


def _throughput_section(results: dict[str, Any]) -> list[str]:
    limit = value(results, "copy_limit", "streaming_windows_per_second")
    lines = [
        "## Throughput",
        "",
        "Ratios compare with the keras engine at the same number of series (200 for rows "
        "without one) and with the streaming numpy copy limit.",
        "",
        "| approach | series | w/s | vs keras engine | vs copy limit | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for approach, n, rate, note in throughput_rows(results):
        keras = value(results, f"train/keras/{n or 200}", "windows_per_second")
        series = "-" if n == 0 else f"{n:,}"
        lines.append(
            table_row(
                approach,
                series,
                format_rate(rate),
                format_ratio(rate, keras),
                format_ratio(rate, limit),
                note,
            )
        )
    return [*lines, ""]


def _startup_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Time to first batch",
        "",
        "Store already ingested. Training batches are shuffled; the default validation cache is "
        "filled inside make_datasets.",
        "",
        "| series | validation cache | open_store | make_datasets | first batch after it "
        "| from make_datasets | from open_store |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    keys = (
        "open_store_seconds",
        "make_datasets_seconds",
        "first_batch_after_make_seconds",
        "from_make_datasets_seconds",
        "from_open_store_seconds",
    )
    cases = [(n, f"first_batch/{n}") for n in results["series_counts"]]
    cases.append((200, "first_batch/200/cache_validation"))
    for n, case in cases:
        figures = [format_seconds(value(results, case, key)) for key in keys]
        cache = "in memory (default)" if value(results, case, "cache_validation") else "off"
        lines.append(table_row(f"{n:,}", cache, *figures))
    return [*lines, ""]


def _memory_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Memory",
        "",
        "RssAnon (anonymous resident memory: neither the page cache nor the memory-mapped shards) "
        "of a fresh subprocess that imports TensorFlow, calls make_datasets with "
        "cache_validation=False and iterates 1,000 shuffled training batches, sampled every "
        "10 ms. The last two columns are what the alternatives would hold: the default "
        "in-memory validation cache (computed from the window count), and every training window "
        "materialized in numpy (measured bytes at 200 series, scaled by series count above).",
        "",
        "| series | after import tensorflow | after make_datasets | peak | peak vs 200 "
        "| validation cache | all training windows |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base_peak = value(results, "memory/gather/200", "peak_rss_anon")
    materialized = value(results, "baseline/materialize/200", "bytes_all_series")
    for n in results["series_counts"]:
        case = f"memory/gather/{n}"
        milestones = value(results, case, "milestones")
        if milestones is None:
            lines.append(
                table_row(f"{n:,}", f"failed: {_failure(results, case)}", "", "", "", "", "")
            )
            continue
        peak = value(results, case, "peak_rss_anon")
        cache = value(results, f"validation/{n}", "cache_bytes_estimate")
        estimate = None if materialized is None else materialized * n / 200
        lines.append(
            table_row(
                f"{n:,}",
                format_mb(milestones["after_import_tensorflow"]),
                format_mb(milestones["after_make_datasets"]),
                format_mb(peak),
                format_ratio(peak, base_peak),
                format_mb(cache),
                format_mb(estimate) + ("" if n == 200 else " (estimate)"),
            )
        )
    lines.append("")
    opened = value(results, "memory/open_store", "milestones")
    if opened:
        base = opened["after_import_tsfeed"]
        after_open = opened["after_open_store"] - base
        after_window = opened["after_one_window"] - opened["after_open_store"]
        lines += [
            "Opening a store of 10 series x 625,000 rows x 8 float32 features (200 MB of "
            f"features) without TensorFlow: RssAnon {format_mb(base)} after `import tsfeed`, "
            f"+{format_mb(after_open)} after `open_store`, +{format_mb(after_window)} more after "
            "reading one window.",
            "",
        ]
    return lines


def _lstm_section(results: dict[str, Any]) -> list[str]:
    def figure(key: str) -> Any:
        return value(results, "lstm/2000", key)

    share = format_ratio(figure("gather_steps_per_second"), figure("in_memory_steps_per_second"), 3)
    return [
        "## Input-bound check",
        "",
        "Keras LSTM(32) -> Dense(1), `fit` for 150 steps after a warm-up on 2,000 series, the two "
        "feeds alternating three times. In memory means 8 prebuilt batches from "
        "`from_tensor_slices`, repeated.",
        "",
        "| fed by | steps/s | w/s | share of in-memory speed |",
        "|---|---:|---:|---:|",
        table_row(
            "in-memory batches",
            format_rate(figure("in_memory_steps_per_second")),
            format_rate(figure("in_memory_windows_per_second")),
            "1.00",
        ),
        table_row(
            "tsfeed gather",
            format_rate(figure("gather_steps_per_second")),
            format_rate(figure("gather_windows_per_second")),
            share,
        ),
        "",
    ]


def _ingest_row(label: str, results: dict[str, Any], case: str, prefix: str = "") -> str:
    def figure(key: str) -> Any:
        return value(results, case, key)

    rows = figure("rows")
    return table_row(
        label,
        "n/a" if rows is None else f"{rows:,}",
        format_seconds(figure(f"{prefix}seconds")),
        format_rate(figure(f"{prefix}rows_per_second")),
        format_mb(figure("parquet_bytes")),
        format_mb(figure("store_bytes")),
        format_ratio(figure("store_bytes"), figure("parquet_bytes")),
    )


def _ingest_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Ingest",
        "",
        "| input | rows | seconds | rows/s | Parquet | store | store / Parquet |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _ingest_row("200 series, ingested again in this run", results, "ingest/200"),
    ]
    for n in results["series_counts"]:
        case = f"build/{n}"
        when = "when the data set was built" if value(results, case, "reused") else "in this run"
        lines.append(_ingest_row(f"{n:,} series, {when}", results, case, prefix="ingest_"))
    lines += ["", "Synthetic data (`write_synthetic`, Parquet with snappy compression):", ""]
    for n in results["series_counts"]:
        lines.append(
            f"- {n:,} series: {format_seconds(value(results, f'build/{n}', 'synth_seconds'))}"
        )
    largest = max(results["series_counts"])
    synth = value(results, f"build/{largest}", "synth_seconds")
    ingest = value(results, f"build/{largest}", "ingest_seconds")
    if largest < 20000 and synth is not None and ingest is not None:
        scale = 20000 / largest
        lines.append(
            f"- 20,000 series: about {synth * scale:.0f} s to write and {ingest * scale:.0f} s to "
            f"ingest (estimate, scaled linearly from {largest:,} series; run `--full` to measure)"
        )
    return [*lines, ""]


def _long_series_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## One series of 1,000,000 rows",
        "",
        "8 float32 features, windows of 168 steps, next-step target, batches of 1,024, no "
        "shuffle, no validation. Seconds are medians of three epochs, each from a new "
        "make_datasets call.",
        "",
        "| sequence_stride | windows | batches | full | last | first batch | epoch | w/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for stride in (1, 24):
        node = value(results, "long_series", f"stride_{stride}")
        if node is None:
            failure = f"failed: {_failure(results, 'long_series')}"
            lines.append(table_row(stride, failure, "", "", "", "", "", ""))
            continue
        lines.append(
            table_row(
                stride,
                f"{node['windows']:,}",
                node["batches"],
                node["full_batches"],
                node["last_batch"],
                format_seconds(node["first_batch_seconds"]),
                format_seconds(node["epoch_seconds"]),
                format_rate(node["windows_per_second"]),
            )
        )
    return [*lines, ""]
