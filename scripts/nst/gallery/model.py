"""The collection a gallery shows, read from the workflow's outputs (never from the jobs).

Rows are content images, columns are styles, cells are pairs.  Everything comes
from `summary.tsv` (one row per pair) and `inputs/accepted.tsv` (where the
original images are); the pair's record JSON is found by its key.  Reading a
summary of 100,000 rows takes about a second.

With variants (nst.variants: one collection under several named settings) every row
has a variant and a key "variant/style/content": each (style, variant) is then its own
column, keyed "{style}~{variant}" (variant names never hold "~"), so the pages, plots
and contact sheets show every variant as a style of its own.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..plan import pair_variant, result_paths
from ..tsv import read_rows


@dataclass(frozen=True)
class Entry:
    """A content image (a row) or a style (a column)."""

    key: str  # the key in output paths: results/stylized/{style}/{content}.png
    name: str  # the file name (for blends: "a.jpg:0.7+b.jpg:0.3")
    sources: tuple[Path, ...]  # original file(s); empty when unknown, several for a blend
    variant: str = ""  # a variant's column (key "{style}~{variant}"): the variant's name,
    changes: str = ""  # what it changes ("style_weight=20", "as configured"),
    base: Entry | None = None  # and the style itself


@dataclass(frozen=True)
class Cell:
    """One pair: its summary row and where its image and record are."""

    pair: str  # the summary's key: "{style}/{content}" or "{variant}/{style}/{content}"
    style: str  # column key: the style key, or "{style}~{variant}"
    content: str  # content key
    row: Mapping[str, str]
    image: Path | None  # the stylized PNG, when the pair succeeded and the file exists
    record: Path  # results/records/{style}/{content}.json (may be missing)
    mask: Path | None = None  # the pair's label image (nst.masks), when it has one and it exists
    variant: str = ""  # the variant that made it ("": no variants)

    @property
    def ok(self) -> bool:
        return self.image is not None


@dataclass
class Collection:
    contents: list[Entry]
    styles: list[Entry]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (column, content) -> cell
    variants: list[str] = field(default_factory=list)  # in the config's order; [] without

    def cell(self, style: str, content: str) -> Cell | None:
        return self.cells.get((style, content))

    @functools.cached_property
    def ok_count(self) -> int:
        """Pairs with an image (computed once: every page shows it)."""
        return sum(1 for cell in self.cells.values() if cell.ok)


def natural_key(text: str) -> tuple:
    """Sort "photo 2" before "photo 10", case-insensitively."""
    chunks = re.split(r"(\d+)", text.casefold())  # odd chunks are the runs of digits
    return tuple((0, int(c), "") if i % 2 else (1, 0, c) for i, c in enumerate(chunks) if c)


def pair_keys(row: Mapping[str, str]) -> tuple[str, str]:
    """(style key, content key) of a summary row.

    From its `pair` column ("style/content" or "variant/style/content"; keys never
    contain "/"), or, in a summary written before that column existed, from its
    output path (results/stylized/{style}/{content}.png).
    """
    pair = (row.get("pair") or "").strip()
    if pair_variant(pair):
        pair = pair.partition("/")[2]
    if "/" in pair:
        style, content = pair.split("/", 1)
        return style, content
    output = Path(row.get("output") or "")
    if output.suffix != ".png" or output.parent == Path("."):
        raise ValueError(f"summary row without a pair key or output path: {dict(row)}")
    return output.parent.name, output.name[: -len(".png")]


def column_key(style: str, variant: str) -> str:
    """A grid column's key: the style's, or with variants "{style}~{variant}"."""
    return f"{style}~{variant}" if variant else style


def describe_changes(changes: Mapping | None) -> str:
    """A variant's changes as the pages show them: "style_weight=20, tv_weight=0"."""
    if changes is None:
        return "not in the config's variants"
    parts = []
    for key, value in changes.items():
        value = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        parts.append(f"{key}={value}")
    return ", ".join(parts) or "as configured"


def style_components(name: str, known: Mapping[str, Path]) -> tuple[Path, ...]:
    """The style file(s) of a summary `style` cell: one file, or each part of a blend."""
    if name in known:
        return (known[name],)
    parts = []
    for item in name.split("+"):
        file, _, weight = item.rpartition(":")
        file = file if file and _is_number(weight) else item
        if file in known:
            parts.append(known[file])
    return tuple(parts)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def load_collection(
    summary: str | os.PathLike,
    accepted: str | os.PathLike | None,
    results: str | os.PathLike,
    masks: str | os.PathLike | None = None,
    variants: Mapping[str, Mapping] | None = None,
) -> Collection:
    """The gallery's grid from the summary table and the accepted inputs; `masks`: the
    folder of the masks the summary names (mask_dir); `variants`: the config's variants
    (name -> its changes, in order)."""
    variants = dict(variants or {})
    originals: dict[str, dict[str, Path]] = {"content": {}, "style": {}}
    if accepted is not None and Path(accepted).is_file():
        for row in read_rows(accepted):
            originals.setdefault(row["role"], {})[Path(row["path"]).name] = Path(row["path"])
    contents: dict[str, Entry] = {}
    styles: dict[str, Entry] = {}
    cells: dict[tuple[str, str], Cell] = {}
    for row in read_rows(summary):
        style, content = pair_keys(row)
        variant = pair_variant((row.get("pair") or "").strip())
        column = column_key(style, variant)
        if content not in contents:
            source = originals["content"].get(row.get("content", ""))
            contents[content] = Entry(
                content, row.get("content", content), (source,) if source else ()
            )
        if column not in styles:
            name = row.get("style", style)
            entry = Entry(style, name, style_components(name, originals["style"]))
            if variant:
                changes = describe_changes(variants.get(variant))
                entry = Entry(column, f"{name} · {variant}", entry.sources, variant, changes, entry)
            styles[column] = entry
        output = Path(row["output"]) if row.get("output") else None
        ok = row.get("status") == "ok" and output is not None and output.is_file()
        mask = Path(masks, row["mask"]) if masks and row.get("mask") else None
        key = f"{variant}/{style}/{content}" if variant else f"{style}/{content}"
        cells[(column, content)] = Cell(
            pair=key,
            style=column,
            content=content,
            row=row,
            image=output if ok else None,
            record=Path(result_paths(str(results), key)[1]),
            mask=mask if mask and mask.is_file() else None,
            variant=variant,
        )
    found = {entry.variant for entry in styles.values()} - {""}
    order = [*(v for v in variants if v in found), *sorted(found - set(variants), key=natural_key)]
    rank = {name: n for n, name in enumerate(order)}
    return Collection(
        contents=sorted(contents.values(), key=lambda i: natural_key(i.key)),
        styles=sorted(
            styles.values(),
            key=lambda i: (natural_key(i.base.key if i.base else i.key), rank.get(i.variant, -1)),
        ),
        cells=cells,
        variants=order,
    )
