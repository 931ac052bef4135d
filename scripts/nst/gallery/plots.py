"""Plots for the gallery and the report (matplotlib, Agg, no display needed).

* `draw_curve`: one pair's loss curves (content, style, TV, total vs step, log
  scale), from its record.  Drawn once per record and cached like thumbnails
  (see cache.py): a gallery of 100,000 pairs draws only new or changed records.
* `style_overview`: per style, the distribution of the final style loss, of the
  seconds per pair, and of the loss reduction (final / initial total loss).
* `overview`: all styles side by side (final style loss and seconds per pair).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..io import atomic_write  # noqa: E402
from .model import Collection, Entry  # noqa: E402

CURVE_RECIPE = "curve:v1"
COLOURS = {"content": "#1f77b4", "style": "#d62728", "tv": "#2ca02c", "total": "#222222"}
MAX_STYLES_IN_OVERVIEW = 60
# boxplot's `vert` became `orientation` in matplotlib 3.10 (and `vert` is deprecated).
_MPL = tuple(int(part) for part in matplotlib.__version__.split(".")[:2])
HORIZONTAL = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}


def _save(figure: Figure, target: str | os.PathLike, dpi: int = 100) -> None:
    with atomic_write(target) as handle:
        figure.savefig(handle, format="png", dpi=dpi)


def read_history(record: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    data = json.loads(Path(record).read_text())
    history = data["history"]
    rows = np.asarray(history["rows"], dtype=float).reshape(-1, len(history["columns"]))
    return list(history["columns"]), rows


class _CurveFigure:
    """One figure per process, reused for every pair: only the line data changes, which
    makes a curve about three times cheaper to draw than a fresh figure (this is what
    the first gallery of a big collection spends most of its time on)."""

    def __init__(self):
        self.figure = Figure(figsize=(4.8, 3.0))
        self.figure.subplots_adjust(left=0.15, right=0.97, top=0.88, bottom=0.15)
        self.axes = self.figure.add_subplot()
        self.lines = {
            term: self.axes.plot([], [], label=term, color=colour, linewidth=1.4)[0]
            for term, colour in COLOURS.items()
        }
        self.axes.set_yscale("log")
        self.axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.axes.set_xlabel("step")
        self.axes.set_ylabel("loss")
        self.axes.grid(True, which="major", alpha=0.3)
        self.axes.legend(
            fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False
        )
        self.markers: list = []

    def draw(self, columns: list[str], rows: np.ndarray, target: Path) -> None:
        for artist in self.markers:
            artist.remove()
        self.markers = []
        steps = np.arange(1, len(rows) + 1)
        low, high = np.inf, -np.inf
        for term, line in self.lines.items():
            values = rows[:, columns.index(term)] if term in columns else np.full(len(rows), np.nan)
            values = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            line.set_data(steps, values)
            if np.isfinite(values).any():
                low, high = min(low, np.nanmin(values)), max(high, np.nanmax(values))
        if not np.isfinite(low):
            low, high = 0.1, 10.0
        self.axes.set_xlim(0.5, max(2, len(rows)) + 0.5)
        self.axes.set_ylim(low / 2, high * 2)
        if "size" in columns and len(rows):
            sizes = rows[:, columns.index("size")]
            for index in np.flatnonzero(np.diff(sizes)) + 1:
                self.markers.append(
                    self.axes.axvline(index + 0.5, color="#999999", linestyle=":", linewidth=1)
                )
                self.markers.append(
                    self.axes.annotate(
                        f"{int(sizes[index])} px",
                        (index + 0.5, 1),
                        xycoords=("data", "axes fraction"),
                        fontsize=7,
                        color="#666666",
                        ha="left",
                        va="top",
                    )
                )
        _save(self.figure, target, dpi=100)


_curve_figure: _CurveFigure | None = None


def draw_curve(source: str, target: Path, recipe: str = CURVE_RECIPE) -> dict:
    """Loss terms vs step (log y); the stage changes of coarse-to-fine runs marked."""
    global _curve_figure
    columns, rows = read_history(source)
    if _curve_figure is None:
        _curve_figure = _CurveFigure()
    _curve_figure.draw(columns, rows, target)
    return {"steps": int(len(rows))}


def _numbers(cells: Sequence, column: str) -> np.ndarray:
    values = []
    for cell in cells:
        try:
            values.append(float(cell.row.get(column, "nan")))
        except ValueError:
            values.append(math.nan)
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def _log_hist(axes, values: np.ndarray, colour: str) -> None:
    values = values[values > 0]
    if not len(values):
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
        return
    low, high = np.log10(values.min()), np.log10(values.max())
    if high - low < 1e-6:
        low, high = low - 0.5, high + 0.5
    axes.hist(values, bins=np.logspace(low, high, 30), color=colour, alpha=0.85)
    axes.set_xscale("log")


def style_overview(collection: Collection, style: Entry, target: str | os.PathLike) -> None:
    cells = [c for c in (collection.cell(style.key, e.key) for e in collection.contents) if c]
    ok = [c for c in cells if c.row.get("status") == "ok"]
    figure = Figure(figsize=(11, 3.4), layout="constrained")
    figure.suptitle(
        f"style {style.key}: {len(ok)} of {len(cells)} pairs ok", fontsize=11, x=0.01, ha="left"
    )
    loss, seconds, total, initial = (
        _numbers(ok, "style_loss"),
        _numbers(ok, "seconds"),
        _numbers(ok, "total_loss"),
        _numbers(ok, "initial_loss"),
    )
    left, middle, right = figure.subplots(1, 3)
    for axes in (left, middle, right):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    _log_hist(left, loss, COLOURS["style"])
    left.set_xlabel("final style loss")
    left.set_ylabel("pairs")
    if len(seconds):
        middle.hist(seconds, bins=30, color="#7f7f7f")
        middle.axvline(float(np.median(seconds)), color="black", linewidth=1)
        middle.set_title(f"median {np.median(seconds):.3g} s", fontsize=9)
    middle.set_xlabel("seconds per pair")
    ratio = np.array([])
    if len(total) == len(initial) and len(total):
        ratio = total / np.where(initial > 0, initial, np.nan)
        ratio = ratio[np.isfinite(ratio)]
    _log_hist(right, ratio, COLOURS["total"])
    right.set_xlabel("final / initial total loss")
    _save(figure, target)


def overview(collection: Collection, target: str | os.PathLike) -> None:
    """Final style loss and seconds per pair for every style (box plots)."""
    styles = collection.styles[:MAX_STYLES_IN_OVERVIEW]
    losses, seconds, labels = [], [], []
    for style in styles:
        cells = [c for c in (collection.cell(style.key, e.key) for e in collection.contents) if c]
        ok = [c for c in cells if c.row.get("status") == "ok"]
        loss = _numbers(ok, "style_loss")
        losses.append(loss[loss > 0])
        seconds.append(_numbers(ok, "seconds"))
        failed = len(cells) - len(ok)
        labels.append(f"{style.key[:28]} ({len(ok)}{f', {failed} failed' if failed else ''})")
    height = 1.4 + 0.32 * max(1, len(styles))
    figure = Figure(figsize=(11, height), layout="constrained")
    shown = len(styles)
    title = f"{len(collection.cells)} pairs, {len(collection.contents)} contents x "
    title += f"{len(collection.styles)} styles"
    if shown < len(collection.styles):
        title += f" (first {shown} styles shown)"
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    left, right = figure.subplots(1, 2, sharey=True)
    positions = np.arange(len(styles))[::-1]
    for axes, data, label in (
        (left, losses, "final style loss"),
        (right, seconds, "seconds per pair"),
    ):
        present = [(p, d) for p, d in zip(positions, data) if len(d)]
        if present:
            axes.boxplot(
                [d for _, d in present],
                positions=[p for p, _ in present],
                **HORIZONTAL,
                widths=0.6,
                showfliers=True,
                flierprops={"markersize": 2},
            )
        axes.set_xlabel(label)
        axes.grid(True, axis="x", alpha=0.3)
    if any(len(d) for d in losses):
        left.set_xscale("log")
    left.set_yticks(positions, labels, fontsize=8)
    left.set_ylim(-0.7, len(styles) - 0.3)
    _save(figure, target)
