"""The key of every input name, kept from run to run in results/inputs/keys.json.

Output paths are made of keys (results/stylized/{style}/{content}.png, the style
caches {style}.safetensors).  A new file's key comes from nst.pairs.image_keys (its
name without the extension), a blend's or a masked pair's from nst.pairs.pair_style_key
(`starry@0.7+wave@0.3`, `rocket@ffffff=starry,000000=none`).
Once given, a key stays with its name: adding or removing files never renames what
other files made, whatever order they arrive in (x.png stylised, then x.jpg added: the
newcomer gets x_jpg and x.png keeps x; x.jpg first, then x.png: x and x_png).

Keys are unique per namespace ignoring case and Unicode form (nst.pairs.folded).
Style files and blends share one namespace, since both name the folders of
results/stylized/: a newcomer whose key is taken gets a longer one (a file its
extension, a blend `_blend`, then a counter), so a style file named `a@0.5+b@0.5.png`
and the blend `a.png:0.5+b.png:0.5` never write each other's results.  Only pruning
(nst.prune) forgets the names that are gone.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Collection, Iterable
from pathlib import Path

from .io import fitting_key, write_json
from .pairs import folded, image_keys, is_usable_key

# Role -> the namespace its keys share (the folder level of results/stylized/ they name).
NAMESPACES = {"content": "content", "style": "style", "blend": "style"}


def key_book_path(results: str | os.PathLike) -> str:
    return f"{results}/inputs/keys.json"


class KeyBook:
    """Name -> key per role (content and style file names, blend names as the summary
    shows them); gives new names keys that no other name in their namespace holds."""

    def __init__(self, entries: dict[str, dict[str, str]] | None = None):
        self.entries: dict[str, dict[str, str]] = {role: {} for role in NAMESPACES}
        self._taken: dict[str, set[str]] = {space: set() for space in NAMESPACES.values()}
        for role in NAMESPACES:
            given = (entries or {}).get(role)
            # A hand edit may have broken keys: a key that is not one path component, or
            # one that two names share (sorted: the first keeps it), is given afresh.
            for name, key in sorted(given.items() if isinstance(given, dict) else []):
                if is_usable_key(key) and folded(key) not in self._space(role):
                    self._give(role, name, key)
        self.changed = False

    @classmethod
    def load(cls, path: str | os.PathLike) -> KeyBook:
        """The book at `path`; an empty one if there is none yet (or it is damaged: then
        the keys are given afresh, as in a run before this book existed)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(data if isinstance(data, dict) else None)

    def save(self, path: str | os.PathLike) -> None:
        if self.changed:
            write_json(path, self.entries)
            self.changed = False

    def _space(self, role: str) -> set[str]:
        return self._taken[NAMESPACES[role]]

    def _give(self, role: str, name: str, key: str) -> None:
        self.entries[role][name] = key
        self._space(role).add(folded(key))
        self.changed = True

    def files(self, role: str, paths: Iterable[Path]) -> dict[Path, str]:
        """Path -> key of these files (content or style), giving new names their keys."""
        paths = list(paths)
        book = self.entries[role]
        new = [path for path in paths if path.name not in book]
        for path, key in image_keys(new, self._space(role)).items():
            self._give(role, path.name, key)
        return {path: book[path.name] for path in paths}

    def blend(self, name: str, wanted: str) -> str:
        """The key of the blend `name` (nst.pairs.blend_name): `wanted` (its style_key)
        unless a style file or another blend holds that already."""
        if name not in self.entries["blend"]:
            longer = (f"{wanted}_blend_{n}" for n in itertools.count(2))
            tries = map(fitting_key, itertools.chain([wanted, f"{wanted}_blend"], longer))
            taken = self._space("blend")
            self._give("blend", name, next(k for k in tries if folded(k) not in taken))
        return self.entries["blend"][name]

    def keep_only(self, role: str, names: Collection[str]) -> list[str]:
        """Forget the names of `role` not in `names` (their results are gone); returns them."""
        gone = sorted(set(self.entries[role]) - set(names))
        for name in gone:
            self._space(role).discard(folded(self.entries[role].pop(name)))
            self.changed = True
        return gone
