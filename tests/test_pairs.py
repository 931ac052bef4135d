"""Pair discovery: unique output names and the pairs sheet."""

import pytest

from conftest import write_image
from nst.pairs import SheetError, image_keys, read_sheet, style_key


def test_keys_are_stems_and_collisions_keep_the_extension(tmp_path):
    paths = [tmp_path / n for n in ("a.jpg", "A.png", "b.png", "my photo (1).jpeg", "ümlaut.png")]
    keys = image_keys(paths)
    assert keys[paths[0]] == "a_jpg" and keys[paths[1]] == "A_png"
    assert keys[paths[2]] == "b"
    assert keys[paths[3]] == "my photo (1)"
    assert keys[paths[4]] == "ümlaut"
    assert len(set(keys.values())) == len(paths)


@pytest.fixture
def folders(tmp_path):
    content, style = tmp_path / "content", tmp_path / "style"
    for name in ("cat.png", "dog.png"):
        write_image(content / name)
    for name in ("wave.png", "starry.png", "a+b.png"):
        write_image(style / name)
    return tmp_path, content, style


def sheet(tmp_path, text):
    path = tmp_path / "pairs.tsv"
    path.write_text(text)
    return path


def test_sheet_with_blends_and_overrides(folders):
    root, content, style = folders
    pairs = read_sheet(
        sheet(
            root,
            "content\tstyle\tstyle_weight\tseed\n"
            "cat.png\twave.png\t5e5\t\n"
            "dog.png\tstarry.png:3+wave.png:1\t\t7\n"
            "# a comment line\n"
            "dog.png\ta+b.png\t\t\n",
        ),
        content,
        style,
    )
    assert len(pairs) == 3
    assert pairs[0].overrides == {"style_weight": 5e5}
    assert pairs[1].styles == ((style / "starry.png", 0.75), (style / "wave.png", 0.25))
    assert pairs[1].overrides == {"seed": 7}
    assert pairs[2].styles == ((style / "a+b.png", 1.0),)  # an existing name wins over a blend
    keys = image_keys([style / "starry.png", style / "wave.png"])
    assert style_key(pairs[1].styles, keys) == "starry@0.75+wave@0.25"


@pytest.mark.parametrize(
    "row, message",
    [
        ("cat.png\tnope.png", "row 2: .*nope.png does not exist"),
        ("../cat.png\twave.png", "row 2: '../cat.png': give a file name inside"),
        (
            "cat.png\twave.png:-1+starry.png:1",
            "blend weight of 'wave.png' must be a positive number",
        ),
        ("cat.png\twave.png:abc+starry.png", "blend weight 'abc' of 'wave.png' is not a number"),
        ("cat.png\twave.png\tmuch", "row 2: style_weight 'much' is not a number"),
    ],
)
def test_sheet_problems_name_the_row(folders, row, message):
    root, content, style = folders
    with pytest.raises(SheetError, match=message):
        read_sheet(sheet(root, "content\tstyle\tstyle_weight\n" + row + "\n"), content, style)


def test_duplicate_rows_and_unknown_columns(folders):
    root, content, style = folders
    with pytest.raises(SheetError, match="row 3: duplicates row 2"):
        read_sheet(
            sheet(root, "content\tstyle\ncat.png\twave.png\ncat.png\twave.png\n"), content, style
        )
    with pytest.raises(SheetError, match="unknown column.*size"):
        read_sheet(sheet(root, "content\tstyle\tsize\ncat.png\twave.png\t9\n"), content, style)
    with pytest.raises(SheetError, match="lists no pairs"):
        read_sheet(sheet(root, "content\tstyle\n"), content, style)
