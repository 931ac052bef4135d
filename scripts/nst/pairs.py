"""Which pairs a run makes: every content x style, or the rows of a pairs sheet.

Names: each image gets a key, its file name without the extension, used in output
paths (results/stylized/{style}/{content}.png).  Where two files differ only by
extension or case (a.jpg, A.png), both keep their extension in the key (a_jpg,
A_png) so that no two inputs ever write the same output.  Keys longer than
nst.io.KEY_BYTES (a 255-byte file name) are shortened with a hash (fitting_key), so
that every path made from them fits the file system; summary.tsv and the gallery
still show the full file names.  Once given, a key is kept (nst.keys): a file that
arrives later beside one of the same stem keeps its extension instead.

A sheet is a TSV with columns `content` and `style` (file names relative to the
content and style folders) and optional per-pair settings (see PAIR_OVERRIDES).
A style cell may blend several styles: `starry.jpg:0.7+wave.jpg:0.3` (weights are
normalised to sum to one; without weights the styles count equally).  A row with a
`mask` (a label image in the mask folder, nst.masks) gives a style per colour of the
mask instead, each a cell as above or `none`: `white=starry.jpg; black=none`.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .io import fitting_key
from .settings import PAIR_OVERRIDES

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
MASK_CHECK_SIDE = 256  # masks are checked at this long side (their colours, not details)


class SheetError(ValueError):
    """The pairs sheet has problems; the message lists each row and what to fix."""


def list_files(folder: str | os.PathLike) -> list[str]:
    """Every entry directly in `folder` (files, links, odd names), sorted by name.

    Plain strings, from one os.scandir: it knows each entry's type without a stat, and
    at 100,000 photos a stat or a Path object per file would cost more than the
    listing (the workflow lists the folders each time it plans)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"input folder {folder} does not exist")
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries if not _is_folder(entry))
    return [os.path.join(folder, name) for name in names]


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop, say: a file, which validation rejects and names
        return False


def folded(key: str) -> str:
    """What two keys must not share: they may name the same file on a case-insensitive
    file system, or in another Unicode form."""
    return unicodedata.normalize("NFC", key).casefold()


def image_keys(paths: Iterable[Path], taken: Collection[str] = ()) -> dict[Path, str]:
    """A unique, path-safe key per file (see the module docstring).

    Keys differ even ignoring case and Unicode normalisation (case-insensitive
    file systems): where the rule above still gives two files the same key (a.jpg
    and a_jpg.png; café.png written in two Unicode forms), the later name in sorted
    order gets a counter (a_jpg_2).  `taken`: keys (folded) that other files hold
    already (nst.keys); a stem among them keeps its extension too.
    """
    paths = sorted(paths, key=lambda p: p.name)
    stems = Counter(folded(p.stem) for p in paths)
    held, taken = set(taken), set(taken)
    keys = {}
    for path in paths:
        stem = unicodedata.normalize("NFC", path.stem)
        alone = stems[folded(stem)] == 1 and folded(_safe(stem)) not in held
        base = _UNSAFE.sub("_", stem if alone else f"{stem}_{path.suffix.lstrip('.')}") or "_"
        key, count = fitting_key(base), 1
        while folded(key) in taken:
            count += 1
            key = fitting_key(f"{base}_{count}")
        taken.add(folded(key))
        keys[path] = key
    return keys


def _safe(stem: str) -> str:
    return fitting_key(_UNSAFE.sub("_", stem) or "_")


def is_usable_key(key: object) -> bool:
    """Whether `key` is one image_keys could give: one path component that fits."""
    return (
        isinstance(key, str)
        and key not in ("", ".", "..")
        and not _UNSAFE.search(key)
        and fitting_key(key) == key
    )


Styles = tuple[tuple[Path, float], ...]  # (style image, blend weight), weights sum to 1


@dataclass(frozen=True)
class PairSpec:
    content: Path
    styles: Styles  # with a mask: every style its regions use, each weight 1
    overrides: Mapping = field(default_factory=dict)
    mask: Path | None = None
    regions: tuple[tuple[str, Styles], ...] = ()  # ("rrggbb", styles or none: ()) per colour


def all_combinations(contents: Iterable[Path], styles: Iterable[Path]) -> list[PairSpec]:
    styles = list(styles)
    return [PairSpec(c, ((s, 1.0),)) for c in contents for s in styles]


def style_key(styles: Styles, keys: Mapping[Path, str]) -> str:
    """`wave`, or `starry@0.7+wave@0.3` for a blend (shortened when it is too long)."""
    if len(styles) == 1:
        return keys[styles[0][0]]
    return fitting_key("+".join(f"{keys[path]}@{weight:.3g}" for path, weight in styles))


def pair_style_key(spec: PairSpec, keys: Mapping[Path, str]) -> str:
    """The style part of a pair's output path: style_key, or with a mask
    `halves@ffffff=starry,000000=none` (shortened when it is too long)."""
    if spec.mask is None:
        return style_key(spec.styles, keys)
    regions = ",".join(f"{c}={style_key(s, keys) if s else 'none'}" for c, s in spec.regions)
    return fitting_key(f"{keys[spec.mask]}@{regions}")


def blend_name(styles: Styles) -> str:
    """How the summary names a blend: `starry.jpg:0.7+wave.jpg:0.3`."""
    return "+".join(f"{path.name}:{weight:.3g}" for path, weight in styles)


def style_name(spec: PairSpec) -> str:
    """How the summary names a pair's style: the file, blend_name, or with a mask
    `halves.png: ffffff=starry.jpg:1; 000000=none`."""
    if spec.mask is None:
        return spec.styles[0][0].name if len(spec.styles) == 1 else blend_name(spec.styles)
    names = (f"{colour}={blend_name(styles) or 'none'}" for colour, styles in spec.regions)
    return f"{spec.mask.name}: {'; '.join(names)}"


def read_user_table(path: str | os.PathLike, what: str, error: type[SheetError]):
    """A TSV a user wrote (the pairs sheet, the styles table) as a table of strings, empty
    cells empty; `error` names the file when it cannot be read."""
    import pandas as pd  # here: pair jobs import this module and never read a table

    try:
        return pd.read_csv(
            path,
            sep="\t",
            dtype=str,
            comment="#",
            skip_blank_lines=True,
            keep_default_na=False,
            encoding="utf-8-sig",  # spreadsheets often start the file with a BOM
        )
    except (OSError, ValueError) as err:  # pandas' parser, decoding and empty-file errors
        raise error(f"{what} {path}: cannot be read as TSV ({err})") from None


def read_sheet(
    sheet: str | os.PathLike, content_dir: Path, style_dir: Path, mask_dir: Path | None = None
) -> list[PairSpec]:
    """Parse and check a pairs sheet; raise SheetError listing every bad row."""
    table = read_user_table(sheet, "pairs sheet", SheetError)
    missing = {"content", "style"} - set(table.columns)
    unknown = set(table.columns) - {"content", "style", "mask", *PAIR_OVERRIDES}
    if missing or unknown:
        raise SheetError(
            f"pairs sheet {sheet}: "
            + (f"missing column(s) {', '.join(sorted(missing))}; " if missing else "")
            + (f"unknown column(s) {', '.join(sorted(unknown))}; " if unknown else "")
            + f"columns are content, style and optionally mask, {', '.join(PAIR_OVERRIDES)}"
        )
    problems, pairs, seen = [], [], {}
    for index, row in table.iterrows():
        line = index + 2  # 1-based, after the header
        try:
            content = _inside(content_dir, row["content"])
            overrides = _overrides(row)
            if str(row.get("mask", "")).strip():
                spec = _masked(content, row, style_dir, mask_dir, overrides)
            else:
                spec = PairSpec(content, _parse_styles(style_dir, row["style"]), overrides)
        except ValueError as err:
            problems.append(f"row {line}: {err}")
            continue
        # Weights as the output names show them (style_key): equal names, same pair.
        identity = (
            content,
            spec.mask,
            _rounded(spec.styles),
            tuple((colour, _rounded(styles)) for colour, styles in spec.regions),
        )
        if identity in seen:
            problems.append(f"row {line}: duplicates row {seen[identity]} (same content and style)")
            continue
        seen[identity] = line
        pairs.append(spec)
    if problems:
        raise SheetError(f"pairs sheet {sheet} has problems:\n  " + "\n  ".join(problems))
    if not pairs:
        raise SheetError(f"pairs sheet {sheet} lists no pairs")
    return pairs


def _rounded(styles: Styles) -> tuple:
    return tuple((path, f"{weight:.3g}") for path, weight in styles)


def _masked(
    content: Path, row: Mapping, style_dir: Path, mask_dir: Path | None, overrides: Mapping
) -> PairSpec:
    """A row with a mask: its label image, checked, and a style (or none) per colour."""
    from .masks import hex_colour, parse_colour

    if mask_dir is None:
        raise ValueError("a mask is given but no mask folder (set mask_dir in config.yaml)")
    mask = _inside(mask_dir, row["mask"])
    regions, colours = [], []
    for item in str(row["style"]).split(";"):
        colour, equals, cell = item.partition("=")
        if not equals:
            raise ValueError(
                f"with a mask the style cell gives a style per colour of the mask, e.g. "
                f"`white=starry.jpg; black=none`; {item.strip()!r} names no colour"
            )
        rgb = parse_colour(colour)
        if rgb in colours:
            raise ValueError(f"the style cell names the colour {colour.strip()!r} twice")
        none = cell.strip().lower() == "none"
        regions.append((hex_colour(rgb), () if none else _parse_styles(style_dir, cell)))
        colours.append(rgb)
    used = sorted({path for _, styles in regions for path, _ in styles})
    if not used:
        raise ValueError("the style cell gives no colour of the mask a style")
    _check_mask(mask, colours)
    return PairSpec(content, tuple((p, 1.0) for p in used), overrides, mask, tuple(regions))


def _check_mask(path: Path, colours: list[tuple[int, int, int]]) -> None:
    """Every part of the mask is a named colour or between two (at most 1% of other
    colours: stray pixels); else ValueError naming the colour to add."""
    from .images import ImageError, load_image
    from .masks import unnamed_colour

    try:
        mask = load_image(path, MASK_CHECK_SIDE)
    except ImageError as err:
        raise ValueError(f"mask {path}: {err}") from None
    colour, fraction = unnamed_colour(mask, colours)
    if fraction > 0.01:
        raise ValueError(
            f"{fraction:.0%} of mask {path} is colour {colour} (or near it), which the style "
            f"cell does not name: add `{colour}=<style>` or `{colour}=none`"
        )


def _inside(folder: Path, name: str) -> Path:
    name = name.strip()
    if not name:
        raise ValueError("empty file name")
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"{name!r}: give a file name inside {folder}, not a path outside it")
    if "/" in name:
        raise ValueError(f"{name!r}: only files directly in {folder} are used, not subfolders")
    path = folder / name
    if not _is_file(path):
        raise ValueError(f"{path} does not exist")
    return path


def _is_file(path: Path) -> bool:
    """Path.is_file, but False for a name too long to be a file (a blend cell can be)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _parse_styles(style_dir: Path, cell: str) -> tuple[tuple[Path, float], ...]:
    cell = cell.strip()
    if cell and "/" not in cell and _is_file(style_dir / cell):
        return ((style_dir / cell, 1.0),)  # a single style, even if its name has + or :
    parts = []
    for item in cell.split("+"):
        name, _, weight = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "1")
        try:
            value = float(weight)
        except ValueError:
            raise ValueError(f"blend weight {weight!r} of {name!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"blend weight of {name!r} must be a positive number, not {weight}")
        parts.append((_inside(style_dir, name), value))
    if len({p for p, _ in parts}) != len(parts):
        raise ValueError(f"{cell!r} names a style twice")
    total = sum(w for _, w in parts)
    return tuple((p, w / total) for p, w in parts)


def _overrides(row: Mapping) -> dict:
    out = {}
    for key in PAIR_OVERRIDES:
        value = str(row.get(key, "")).strip()
        if not value:
            continue
        if key == "preserve_color":
            if value not in ("none", "luminance", "histogram"):
                raise ValueError(f"preserve_color {value!r}: use none, luminance or histogram")
            out[key] = value
            continue
        try:
            number = int(value) if key in ("steps", "seed") else float(value)
        except ValueError:
            raise ValueError(f"{key} {value!r} is not a number") from None
        if not math.isfinite(number) or number < 0 or (key == "steps" and number < 1):
            raise ValueError(
                f"{key} must be a non-negative number{' >= 1' if key == 'steps' else ''}"
            )
        out[key] = number
    return out
