"""Variants: one collection under several settings, each kept in its own folder.

    variants:                       # name -> the per-pair settings it changes
      base: {}                      #   as configured
      strong: {style_weight: 20}
      soft: {style_weight: 5, contents: [a.jpg, b.jpg]}   # only these photos
    sweep:                          # a grid on chosen photos: a variant per combination
      contents: [a.jpg, b.jpg]
      style_weight: [5, 10, 20]     #   variants style_weight=5, style_weight=10, ...

A variant changes what a pairs sheet may change per pair (nst.settings.PAIR_OVERRIDES),
on top of the sheet's and the styles table's values: the style targets and the working
size stay the collection's, so every variant shares the style caches and a job batches
a photo's variants together.  A variant's pairs write under results/variants/<name>/
(nst.plan.result_paths) and keep the seed they would have without it, so that variants
differ by their settings only.  Without variants nothing moves.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .pairs import _overrides
from .settings import PAIR_OVERRIDES

# Path-safe, never "/" (keys) or "~" (the gallery's column keys); a sweep's names use = and ,
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=,+-]*")


class VariantError(ValueError):
    """A variant or sweep that cannot run; the message names it and the fix."""


@dataclass(frozen=True)
class Variant:
    name: str
    changes: Mapping  # setting -> value, of PAIR_OVERRIDES
    contents: frozenset[str] | None = None  # content file names; None: every photo

    def includes(self, content_name: str) -> bool:
        return self.contents is None or content_name in self.contents


def variants_from_config(config: Mapping) -> list[Variant]:
    """The config's variants, then its sweep's grid (empty: no variants, today's layout)."""
    found = [
        _variant(name, dict(body or {}), f"variant {name!r}")
        for name, body in (config.get("variants") or {}).items()
    ]
    found += _sweep(dict(config.get("sweep") or {}))
    names = [v.name for v in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise VariantError(
            f"the sweep makes variant(s) {', '.join(twice)} that variants: names too"
        )
    return found


def _sweep(body: dict) -> list[Variant]:
    if not body:
        return []
    contents = body.pop("contents", None)
    if not contents:
        raise VariantError(
            "sweep: list the photos to try it on, e.g. `contents: [a.jpg, b.jpg]` (a sweep "
            "runs its grid on a few photos; choose, then run the collection once)"
        )
    grids = {key: values if isinstance(values, list) else [values] for key, values in body.items()}
    variants = []
    for combination in itertools.product(*grids.values()):
        changes = dict(zip(grids, combination))
        name = ",".join(f"{key}={value}" for key, value in changes.items())
        variants.append(_variant(name, {**changes, "contents": contents}, f"sweep value {name}"))
    return variants


def _variant(name: str, body: dict, what: str) -> Variant:
    if not _NAME.fullmatch(str(name)):
        raise VariantError(
            f"{what}: a variant's name is a folder name: letters, digits and . _ = , + - "
            "(starting with a letter or digit)"
        )
    contents = body.pop("contents", None)
    unknown = sorted(set(body) - set(PAIR_OVERRIDES))
    if unknown:
        raise VariantError(
            f"{what}: {', '.join(unknown)} cannot change per variant; a variant may set "
            f"{', '.join(PAIR_OVERRIDES)} and contents.  For other settings, run the collection "
            "again with them and another `results:` folder in config.yaml"
        )
    try:
        changes = _overrides({key: str(value) for key, value in body.items()})
    except ValueError as err:
        raise VariantError(f"{what}: {err}") from None
    if contents is not None and (
        not isinstance(contents, list) or not all(isinstance(c, str) for c in contents)
    ):
        raise VariantError(f"{what}: contents is a list of photo file names, e.g. [a.jpg, b.jpg]")
    return Variant(str(name), changes, None if contents is None else frozenset(contents))


def check_contents(variants: list[Variant], available: Collection[str]) -> None:
    """Every photo a variant or the sweep names is in the content folder."""
    for variant in variants:
        missing = sorted((variant.contents or set()) - set(available))
        if missing:
            raise VariantError(
                f"variant {variant.name!r}: contents {', '.join(missing)} not in the content "
                "folder (give file names in content_dir, as the pairs sheet does)"
            )


def to_params(variants: list[Variant]) -> list[dict]:
    """Plain values for a rule's params (what the plan depends on); from_params reads them."""
    return [
        {
            "name": v.name,
            "changes": dict(v.changes),
            "contents": None if v.contents is None else sorted(v.contents),
        }
        for v in variants
    ]


def from_params(data: list[Mapping]) -> list[Variant]:
    return [
        Variant(
            d["name"], d["changes"], None if d["contents"] is None else frozenset(d["contents"])
        )
        for d in data
    ]
