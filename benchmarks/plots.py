"""PNG plots of a results dict: throughput per approach and memory against series count."""

from __future__ import annotations

from typing import Any

from common import RESULTS_DIR
from report import MB, throughput_rows, value


def plot_throughput(results: dict[str, Any]) -> None:
    """Draw windows/s of every approach as horizontal bars on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{a} ({n:,})" if n else a, r) for a, n, r, _ in throughput_rows(results) if r]
    labels = [label.replace("`", "") for label, _ in rows]
    figure, axes = plt.subplots(figsize=(10, 0.4 * len(rows) + 1.5))
    axes.barh(range(len(rows)), [rate for _, rate in rows], color="tab:blue")
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("windows per second (log scale)")
    axes.set_title(
        f"tsfeed throughput, {results['machine']['cpu_model']}, {results['machine']['cores']} cores"
    )
    figure.tight_layout()
    figure.savefig(RESULTS_DIR / "throughput.png", dpi=110)
    plt.close(figure)


def plot_memory(results: dict[str, Any]) -> None:
    """Draw peak RssAnon and the after-import base against the number of series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts, peaks, bases = [], [], []
    for n in results["series_counts"]:
        milestones = value(results, f"memory/gather/{n}", "milestones")
        if milestones:
            counts.append(n)
            peaks.append(value(results, f"memory/gather/{n}", "peak_rss_anon") / MB)
            bases.append(milestones["after_import_tensorflow"] / MB)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(counts, peaks, "o-", label="peak while iterating the gather engine")
    axes.plot(counts, bases, "s--", label="after import tensorflow")
    axes.set_xscale("log")
    axes.set_xticks(counts, [f"{n:,}" for n in counts])
    axes.minorticks_off()
    axes.set_xlabel("series")
    axes.set_ylabel("RssAnon (MB)")
    axes.set_ylim(0, 1.3 * max(peaks, default=1))
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(RESULTS_DIR / "memory.png", dpi=110)
    plt.close(figure)
