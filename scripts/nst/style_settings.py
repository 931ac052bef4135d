"""The styles table: per-style settings, so a style's weights need not be repeated on
every row of a pairs sheet (or cannot be given at all, without one).

A TSV (config `style_settings`) with a `style` column and any of the per-pair
settings (PAIR_OVERRIDES).  A style cell is a file in the style folder or a blend as
the pairs sheet writes it (`starry.jpg:0.7+wave.jpg:0.3`); empty cells set nothing.
A row's values apply to every pair of that style, and a pair's own sheet values win
over them.  A blend takes its own row if the table has one, else its first style's;
a masked pair takes the row of the first style of its first region with styles.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .pairs import (
    PairSpec,
    SheetError,
    Styles,
    _overrides,
    _parse_styles,
    _rounded,
    read_user_table,
)
from .settings import PAIR_OVERRIDES


class StyleSettingsError(SheetError):
    """The styles table has problems; a SheetError, so that whoever reports a bad pairs
    sheet reports this too."""


@dataclass(frozen=True)
class StyleTable:
    """The table's settings per style or blend, keyed as pairs.read_sheet tells two
    blends apart (weights rounded as output names show them): `a.jpg:3+b.jpg:1` and
    `a.jpg:0.75+b.jpg:0.25` are one blend."""

    rows: Mapping[tuple, Mapping[str, object]] = field(default_factory=dict)

    def overrides_for(self, spec: PairSpec) -> dict:
        """The table's settings for this pair's style ({} where it has no row for it)."""
        if spec.mask is not None:
            # A masked pair runs one optimisation over all its regions, so it can take
            # only one row: its first styled region's first style stands for the pair.
            styles = next((styles for _, styles in spec.regions if styles), ())
            return self._row(styles[:1])
        exact = self.rows.get(_rounded(spec.styles))
        return dict(exact) if exact is not None else self._row(spec.styles[:1])

    def _row(self, styles: Styles) -> dict:
        """The row of a single style, whatever its weight in the pair (a blend's part)."""
        if not styles:
            return {}
        return dict(self.rows.get(_rounded(((styles[0][0], 1.0),)), {}))

    def apply(self, specs: list[PairSpec]) -> list[PairSpec]:
        """The specs with the table's settings under their own (the sheet's) overrides;
        a spec the table sets nothing for is returned as it is."""
        out = []
        for spec in specs:
            values = self.overrides_for(spec)
            out.append(replace(spec, overrides={**values, **spec.overrides}) if values else spec)
        return out


def read_style_settings(path: str | os.PathLike, style_dir: Path) -> StyleTable:
    """Parse and check a styles table; raise StyleSettingsError listing every bad row.

    Rows are numbered as pairs.read_sheet numbers them (the header is row 1), so that
    both files' messages read alike."""
    table = read_user_table(path, "styles table", StyleSettingsError)
    allowed = ("style", *PAIR_OVERRIDES)
    unknown = sorted(set(table.columns) - set(allowed))
    if "style" not in table.columns or unknown:
        raise StyleSettingsError(
            f"styles table {path}: "
            + ("" if "style" in table.columns else "missing column style; ")
            + (f"unknown column(s) {', '.join(unknown)}; " if unknown else "")
            + f"columns are style and optionally {', '.join(PAIR_OVERRIDES)}"
        )
    problems, rows, seen = [], {}, {}
    for index, row in table.iterrows():
        line = index + 2  # 1-based, after the header
        try:
            key = _rounded(_parse_styles(style_dir, row["style"]))
            values = _overrides(row)
        except ValueError as err:
            problems.append(f"row {line}: {err}")
            continue
        if key in seen:
            problems.append(
                f"row {line}: duplicates row {seen[key]} (same style): keep one of the two rows"
            )
            continue
        seen[key], rows[key] = line, values
    if problems:
        raise StyleSettingsError(
            f"styles table {path} has problems (a style cell names files in {style_dir}, "
            f"each style or blend on one row):\n  " + "\n  ".join(problems)
        )
    return StyleTable(rows)
