"""Draw W1–W3 wall time across N for every SDK (runs in the tooling venv: matplotlib)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {
    "aiodurable": "#1f77b4",
    "aiodurable-http": "#9467bd",
    "official": "#ff7f0e",
    "community": "#2ca02c",
}
TITLES = {
    "W1": "W1: N sequential steps",
    "W2": "W2: replay N steps + 1 new",
    "W3": "W3: map over N items",
}


def draw(results: dict, out: Path) -> None:
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, workload in zip(axes, TITLES, strict=True):
        for sdk, color in COLORS.items():
            points = sorted(
                (c["n"], c["summary"]["wall"])
                for c in results["cells"]
                if c["workload"] == workload and c["sdk"] == sdk and c.get("summary")
            )
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", color=color, label=sdk)
                for x, y in points:
                    label = f"{y * 1e3:.0f} ms" if y < 1 else f"{y:.1f} s"
                    ax.annotate(
                        label,
                        (x, y),
                        textcoords="offset points",
                        xytext=(4, 4),
                        fontsize=7,
                        color=color,
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted({c["n"] for c in results["cells"] if c["workload"] == workload})
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set_title(TITLES[workload])
        ax.set_xlabel("N")
        ax.set_ylabel("wall time per invocation (s, log)")
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend()
    meta = results["meta"]
    figure.suptitle(
        "SDK overhead against an in-process fake service (aiodurable-http: over HTTP to "
        f"aiodurable's local backend) — {meta['machine']['cpu']}, "
        f"Python {meta['machine']['python']}, {meta['date']}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
