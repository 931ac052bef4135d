"""A pair's summary row: one line of a shard's manifest and of summary.tsv, also kept in
the pair's record (nst.results).  The columns are the fields, in order; a field left
None (a pair that failed before it was measured) is an empty cell."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields


@dataclass(kw_only=True)
class SummaryRow:
    pair: str  # the pair key, "style/content"
    content: str  # file names
    style: str
    backbone: str
    width: int | None = None  # of the result
    height: int | None = None
    optimizer: str
    steps: int = 0  # iterations over all stages and refinement passes
    content_loss: float | None = None  # the weighted terms at the result (nst.outcome.TERMS)
    style_loss: float | None = None
    tv_loss: float | None = None
    total_loss: float | None = None
    initial_loss: float | None = None  # the total where the first stage started
    style_score: float | None = None  # the held-out network's (nst.quality)
    content_score: float | None = None
    seconds: float | None = None  # the pair's share of its batch's time
    device: str
    precision: str  # the one the result was made in
    seed: int
    output: str  # the image
    status: str = "failed"  # "ok" or "failed"
    message: str = ""  # why it failed, or what was done about a problem

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> SummaryRow:
        """The row kept in a record; a column added since it was written is left empty."""
        return cls(**{key: data[key] for key in SUMMARY_COLUMNS if key in data})


SUMMARY_COLUMNS = [f.name for f in fields(SummaryRow)]
