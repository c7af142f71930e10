"""The targets of the benchmark suite and whether a results dict meets them."""

from __future__ import annotations

from typing import Any

from report import MB, format_mb, format_ratio, format_seconds, table_row, value


def _check(name: str, measured: str, met: bool | None) -> tuple[str, str, bool | None]:
    return name, measured, met


def list_targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    checks = []
    limit = value(results, "copy_limit", "streaming_windows_per_second")
    for n in results["series_counts"]:
        gather = value(results, f"train/gather/{n}", "windows_per_second")
        keras = value(results, f"train/keras/{n}", "windows_per_second")
        met = None if gather is None or keras is None else gather >= 30 * keras
        checks.append(
            _check(f"gather >= 30x keras engine, {n:,} series", format_ratio(gather, keras), met)
        )
        met = None if gather is None or limit is None else gather >= 0.5 * limit
        name = f"gather >= 50 % of the numpy copy limit, {n:,} series"
        checks.append(_check(name, format_ratio(gather, limit), met))
    small = value(results, "memory/gather/200", "peak_rss_anon")
    large = value(results, "memory/gather/2000", "peak_rss_anon")
    met = None if small is None or large is None else large <= 1.2 * small
    checks.append(
        _check("peak RssAnon at 2,000 series <= 1.2x at 200", format_ratio(large, small), met)
    )
    lstm = value(results, "lstm/2000", "ratio")
    measured = "n/a" if lstm is None else f"{lstm:.3f}"
    met = None if lstm is None else lstm >= 0.97
    checks.append(_check("LSTM fit steps/s, gather / in memory >= 0.97", measured, met))
    first_batch_cases = [(f"first_batch/{n}", f"{n:,} series") for n in results["series_counts"]]
    first_batch_cases.append(("first_batch/200/cache_validation", "200 series, validation cached"))
    for case, label in first_batch_cases:
        first = value(results, case, "from_make_datasets_seconds")
        met = None if first is None else first < 2
        checks.append(
            _check(f"first batch < 2 s from make_datasets, {label}", format_seconds(first), met)
        )
    agree = value(results, "correctness/first_batch", "bit_identical")
    checks.append(_check("first unshuffled batch: gather == keras engine", str(agree), agree))
    counts = value(results, "long_series", "counts_ok")
    name = "1,000,000-row series: 999,832 windows, 977 batches, last 408; 41,660 at stride 24"
    checks.append(_check(name, str(counts), counts))
    not_slower = value(results, "long_series", "stride_24_not_slower")
    name = "1,000,000-row series: stride-24 epoch not slower than stride 1"
    checks.append(_check(name, str(not_slower), not_slower))
    opened = value(results, "memory/open_store", "milestones")
    if opened:
        increase = opened["after_open_store"] - opened["after_import_tsfeed"]
        name = "RssAnon increase from open_store of a 200 MB store < 20 MB"
        checks.append(_check(name, format_mb(increase), increase < 20 * MB))
    return checks


def targets_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for name, measured, met in list_targets(results):
        verdict = "n/a" if met is None else "yes" if met else "NO"
        lines.append(table_row(name, measured, verdict))
    return [*lines, ""]
