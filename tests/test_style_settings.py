"""The styles table: per-style settings under each pair's own."""

import pytest

from nst.pairs import PairSpec, SheetError, all_combinations, read_sheet
from nst.style_settings import StyleSettingsError, read_style_settings


@pytest.fixture
def folders(tmp_path):
    """Content and style folders; only the files' existence matters here."""
    content, style = tmp_path / "content", tmp_path / "style"
    for folder, names in ((content, ("cat.png", "dog.png")), (style, ("wave.png", "starry.png"))):
        folder.mkdir()
        for name in names:
            (folder / name).touch()
    return tmp_path, content, style


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_styles_weight_reaches_every_pair_of_that_style_only(folders):
    root, content, style = folders
    table = read_style_settings(
        write(root, "styles.tsv", "style\tstyle_weight\tsteps\nwave.png\t5e5\t300\n"), style
    )
    specs = all_combinations(
        [content / "cat.png", content / "dog.png"], [style / "wave.png", style / "starry.png"]
    )
    applied = table.apply(specs)
    for before, after in zip(specs, applied):
        if before.styles[0][0].name == "wave.png":
            assert after.overrides == {"style_weight": 5e5, "steps": 300}
        else:
            assert after is before  # no row for starry: left as it was


def test_the_sheets_own_value_wins_over_the_table(folders):
    root, content, style = folders
    sheet = write(root, "pairs.tsv", "content\tstyle\tstyle_weight\ncat.png\twave.png\t7\n")
    table = read_style_settings(
        write(root, "styles.tsv", "style\tstyle_weight\tseed\nwave.png\t5e5\t3\n"), style
    )
    [spec] = table.apply(read_sheet(sheet, content, style))
    assert spec.overrides == {"style_weight": 7.0, "seed": 3}


def test_a_blend_takes_its_own_row_else_its_first_styles(folders):
    root, content, style = folders
    sheet = write(
        root,
        "pairs.tsv",
        "content\tstyle\ncat.png\tstarry.png:3+wave.png:1\ncat.png\tstarry.png:1+wave.png:1\n",
    )
    table = read_style_settings(
        write(
            root,
            "styles.tsv",
            "style\tseed\ttv_weight\n"
            "starry.png\t1\t0.5\n"
            "starry.png:0.75+wave.png:0.25\t2\t\n",  # the first pair's blend, weights normalised
        ),
        style,
    )
    own, first = table.apply(read_sheet(sheet, content, style))
    assert own.overrides == {"seed": 2}  # its own row only, not starry's tv_weight
    assert first.overrides == {"seed": 1, "tv_weight": 0.5}


def test_a_masked_pair_takes_its_first_styled_regions_first_style(folders):
    root, content, style = folders
    wave, starry = style / "wave.png", style / "starry.png"
    masked = PairSpec(
        content / "cat.png",
        ((starry, 1.0), (wave, 1.0)),
        {"seed": 9},
        mask=root / "halves.png",
        regions=(("ffffff", ()), ("000000", ((wave, 0.5), (starry, 0.5)))),
    )
    unstyled = PairSpec(
        content / "dog.png", (), mask=root / "halves.png", regions=(("ffffff", ()),)
    )
    table = read_style_settings(
        write(root, "styles.tsv", "style\tsteps\tseed\nstarry.png\t10\t1\nwave.png\t20\t2\n"),
        style,
    )
    assert table.apply([masked, unstyled]) == [
        PairSpec(
            masked.content, masked.styles, {"steps": 20, "seed": 9}, masked.mask, masked.regions
        ),
        unstyled,
    ]


def test_a_header_only_table_applies_nothing(folders):
    root, content, style = folders
    table = read_style_settings(write(root, "styles.tsv", "style\tstyle_weight\n"), style)
    specs = all_combinations([content / "cat.png"], [style / "wave.png"])
    assert table.apply(specs) == specs and table.overrides_for(specs[0]) == {}


def test_every_bad_row_is_named_with_its_fix(folders):
    root, _, style = folders
    text = (
        "style\tstyle_weight\tpreserve_color\n"
        "wave.png\t1\t\n"  # row 2
        "nope.png\t1\t\n"  # row 3
        "starry.png\tmuch\t\n"  # row 4
        "starry.png\t\tcolour\n"  # row 5
        "wave.png:2\t3\t\n"  # row 6: wave alone again, however written
        "wave.png:1+starry.png:1\t\t\n"  # row 7
        "wave.png:0.5+starry.png:0.5\t\t\n"  # row 8: the same blend
        "\t1\t\n"  # row 9
    )
    with pytest.raises(StyleSettingsError) as caught:
        read_style_settings(write(root, "styles.tsv", text), style)
    message = str(caught.value)
    assert f"a style cell names files in {style}" in message
    assert f"row 3: {style / 'nope.png'} does not exist" in message
    assert "row 4: style_weight 'much' is not a number" in message
    assert "row 5: preserve_color 'colour': use none, luminance or histogram" in message
    assert "row 6: duplicates row 2 (same style): keep one of the two rows" in message
    assert "row 8: duplicates row 7" in message
    assert "row 9: empty file name" in message
    assert "row 2:" not in message and "row 7:" not in message
    assert isinstance(caught.value, SheetError)  # callers that report sheets report this


@pytest.mark.parametrize(
    "header, message",
    [
        ("steps\n", "missing column style; columns are style and optionally content_weight"),
        (
            "style\tcontent\tweight\n",
            "unknown column\\(s\\) content, weight; columns are style and optionally",
        ),
    ],
)
def test_bad_columns_name_the_allowed_ones(folders, header, message):
    root, _, style = folders
    with pytest.raises(StyleSettingsError, match=message):
        read_style_settings(write(root, "styles.tsv", header), style)


@pytest.mark.parametrize(
    "name, contents", [("missing.tsv", None), ("latin1.tsv", b"style\n\xe9\n")]
)
def test_an_unreadable_table_says_so(folders, name, contents):
    root, _, style = folders
    if contents is not None:
        (root / name).write_bytes(contents)
    with pytest.raises(StyleSettingsError, match=f"styles table .*{name}: cannot be read as TSV"):
        read_style_settings(root / name, style)
