r"""The one format of every table the workflow writes: summary.tsv, failed.tsv, the shard
manifests (results/shards/) and inputs/accepted.tsv and rejected.tsv.

Tab-separated UTF-8, a header line, then one line per row, never quoted, so that
`cut -f`, `awk -F'\t'`, `sort` and `grep` work on every row.  In a cell a backslash,
a tab, a newline and a carriage return are written as the escapes `\\`, `\t`, `\n`
and `\r`, and a byte of a file name that is not UTF-8 (from an old system) as `\xNN`;
everything else is written as it is, quotes included.  read_rows and read_frame undo
the escapes, so names come back exactly.  Plain pandas reads the files too, as
`pandas.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE)` (escapes then stay as
written: only names with a backslash, tab or line break differ).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .io import atomic_write

if TYPE_CHECKING:
    import pandas as pd

_ESCAPE = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPE = {value: key for key, value in _ESCAPE.items()}
# os.fsdecode turns a name's bytes that are not UTF-8 into U+DC80-U+DCFF.
_SPECIAL = re.compile("[\\\\\t\n\r\udc80-\udcff]")
_ESCAPED = re.compile(r"\\(?:[\\tnr]|x[0-9a-fA-F]{2})")


def _escape_one(match: re.Match) -> str:
    char = match[0]
    return _ESCAPE.get(char) or f"\\x{ord(char) - 0xDC00:02x}"


def _unescape_one(match: re.Match) -> str:
    text = match[0]
    return chr(0xDC00 + int(text[2:], 16)) if text[1] == "x" else _UNESCAPE[text]


def escape(value) -> str:
    """A cell's text: None is empty, anything else its str() with the escapes above."""
    text = "" if value is None else str(value)
    return _SPECIAL.sub(_escape_one, text) if _SPECIAL.search(text) else text


def unescape(text: str) -> str:
    return _ESCAPED.sub(_unescape_one, text) if "\\" in text else text


def write_table(
    path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Mapping]
) -> None:
    """Write the rows (atomically), their `columns` in order (a missing value is empty)."""
    lines = ["\t".join(columns)]
    lines += ["\t".join(escape(row.get(column)) for column in columns) for row in rows]
    with atomic_write(path, "wb") as handle:
        handle.write(("\n".join(lines) + "\n").encode("utf-8"))


def read_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """Every row as a dict of strings (an empty cell is ""), the escapes undone."""
    with open(path, encoding="utf-8", newline="\n") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        rows = []
        for line in handle:
            cells = line.rstrip("\r\n").split("\t")
            if cells == [""]:
                continue  # a blank line
            cells += [""] * (len(header) - len(cells))
            rows.append(dict(zip(header, map(unescape, cells))))
    return rows


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """The table in pandas, numbers as numbers (an empty cell is NaN), text unescaped."""
    import pandas as pd  # here: the jobs that only write tables skip its import

    table = pd.read_csv(
        path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""]
    )
    for column in table.columns:
        if pd.api.types.is_string_dtype(table[column]):
            table[column] = table[column].map(unescape, na_action="ignore")
    return table
