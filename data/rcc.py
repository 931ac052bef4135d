"""A reader of Qt's compiled resource bundles (.rcc files), enough to list and extract files.

The format, as Qt documents it for `rcc --binary` output (all integers big-endian):

- a header: the magic `qres`, a format version (1 to 3), then the offsets of the tree,
  the data and the names sections (version 3 adds a word of overall flags);
- the tree: fixed-size nodes (14 bytes, 22 from version 2, which adds a modification
  time), node 0 being the root folder.  A node starts with its name's offset and its
  flags (2 = folder, 1 = zlib-compressed, 4 = zstd-compressed); a folder then holds
  its child count and the index of its first child, a file its locale (country,
  language) and its data's offset;
- names: a 2-byte length in UTF-16 code units, a 4-byte hash, then the UTF-16 name;
- data: a 4-byte length, then the bytes; zlib-compressed data starts with the
  uncompressed length (4 bytes) followed by the zlib stream.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

FOLDER, ZLIB, ZSTD = 0x02, 0x01, 0x04


class RccError(ValueError):
    """A file that is not a Qt resource bundle this reader understands."""


class Bundle:
    """One .rcc file: `paths()` lists its files, `read(path)` returns one's bytes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.raw = self.path.read_bytes()
        magic, version, self.tree, self.data, self.names = struct.unpack_from(">4s4I", self.raw)
        if magic != b"qres" or not 1 <= version <= 3:
            raise RccError(f"{self.path}: not a Qt resource bundle (version 1-3)")
        self.node_size = 14 if version == 1 else 22
        self.files = dict(self._walk(0, ""))

    def _name(self, offset: int) -> str:
        (length,) = struct.unpack_from(">H", self.raw, self.names + offset)
        start = self.names + offset + 6  # after the length and the hash
        return self.raw[start : start + 2 * length].decode("utf-16-be")

    def _walk(self, index: int, prefix: str):
        """(path, (flags, data offset)) of every file under tree node `index`."""
        at = self.tree + index * self.node_size
        name_offset, flags = struct.unpack_from(">IH", self.raw, at)
        name = "" if index == 0 else self._name(name_offset)
        path = f"{prefix}/{name}" if prefix else name
        if flags & FOLDER:
            count, first = struct.unpack_from(">II", self.raw, at + 6)
            for child in range(first, first + count):
                yield from self._walk(child, path)
        else:
            (offset,) = struct.unpack_from(">I", self.raw, at + 10)
            yield path, (flags, offset)

    def paths(self) -> list[str]:
        return sorted(self.files)

    def read(self, path: str) -> bytes:
        try:
            flags, offset = self.files[path]
        except KeyError:
            raise KeyError(f"{self.path} has no file {path!r}") from None
        (length,) = struct.unpack_from(">I", self.raw, self.data + offset)
        body = self.raw[self.data + offset + 4 : self.data + offset + 4 + length]
        if flags & ZSTD:
            raise RccError(f"{self.path}: {path} is zstd-compressed, which this reader lacks")
        if flags & ZLIB:
            (size,) = struct.unpack_from(">I", body)
            body = zlib.decompress(body[4:])
            if len(body) != size:
                raise RccError(f"{self.path}: {path} inflates to {len(body)} bytes, not {size}")
        return body
