"""File helpers: atomic writes, content hashes and file names.

Every file this project writes at a final path goes through `atomic_write`, so a
killed job or a full disk leaves either the old file or none, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

NAME_MAX = 255  # bytes in one file name (Linux, macOS); paths are bounded by PATH_MAX, 4096
# Keys (of images, styles, pairs) are at most this long in UTF-8: every file named
# after a key ({key}.safetensors, {key}.json, a thumbnail) then stays under NAME_MAX.
KEY_BYTES = 200
_HASH_CHARS = 16  # hex digits of SHA-256 that tell two shortened names apart (64 bits)


def fitting_key(text: str, max_bytes: int = KEY_BYTES) -> str:
    """`text` if its UTF-8 form fits in `max_bytes`, else its first whole characters,
    "~" and a hash of all of it: the same text always gets the same key, and two texts
    that share a long beginning still get different ones."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= max_bytes:
        return text
    digest = hashlib.sha256(data).hexdigest()[:_HASH_CHARS]
    # Cutting the bytes may split a character: "ignore" drops its leftover bytes.
    head = data[: max_bytes - _HASH_CHARS - 1].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def _temp_prefix(name: str) -> str:
    """Start of atomic_write's temporary names beside a file `name`: ".{name}." with the
    name shortened so that the temporary too fits in NAME_MAX (mkstemp adds 8 characters
    and the suffix ".part")."""
    return f".{fitting_key(name, NAME_MAX - len('..') - 8 - len('.part'))}."


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside `path`; on success fsync and rename it into place.

    On any error the temporary file is removed and `path` is left untouched.
    The temporary name starts with a dot so that globs over results skip it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_parts(paths: Iterable[str | os.PathLike]) -> int:
    """Delete temporaries that a killed writer left beside these final paths.

    Only the temporaries of these paths: other jobs may be writing beside them.
    """
    wanted: dict[Path, set[str]] = {}
    for path in map(Path, paths):
        wanted.setdefault(path.parent, set()).add(_temp_prefix(path.name))
    removed = 0
    for folder, prefixes in wanted.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            # atomic_write's temporaries are named "{prefix}{random}.part"; the random
            # part has no dot, so "a.png"'s prefix does not match "a.png.json"'s files.
            if entry.name.startswith(".") and entry.name.endswith(".part"):
                prefix = entry.name[: entry.name.rfind(".", 0, -5) + 1]
                if prefix in prefixes:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
    return removed


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_write(path, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, allow_nan=True)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(data) -> str:
    """JSON with sorted keys and no whitespace: equal data gives equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def file_signature(path: str | os.PathLike) -> list[int] | None:
    """(size, modification time, change time, inode) of a file, None if it cannot be
    read: what the validation and gallery caches, the listing and the plan compare to
    tell a changed file from an unchanged one.  The change time and inode catch a file
    replaced by another of the same size with its date kept (`cp -p`, `touch -r`): no
    tool can set a change time, and a replacement by rename is another inode.  (Moving
    the collection to another disk changes both: every file is checked again once,
    nothing is recomputed, since results are kept by their inputs' content hashes.)"""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def listing_signature(paths: Iterable[str | os.PathLike]) -> str:
    """A digest of these files' names and signatures: it changes when a file is added,
    removed, renamed, edited or replaced.  One stat per file, so it keeps up with
    100,000 files where Snakemake's own per-input bookkeeping would not."""
    # One string, hashed once: a hash update and bytes per file cost as much as the stat.
    text = "".join(f"{path}\0{file_signature(path)}\n" for path in paths)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def is_utf8(name: str) -> bool:
    """Whether a file name (as os.listdir gives it) is valid UTF-8: names from old
    Latin-1 systems are not, and Snakemake cannot record them."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
