"""Settings that make no sense stop the run before any job, with an error that names
the setting and what to do: checked by a dry run that must fail and make nothing."""

import pytest

from conftest import run_snakemake, tiny_workflow, update_config


def header_only(workdir):
    (workdir / "pairs.tsv").write_text("content\tstyle\n")
    return {"pairs": "pairs.tsv"}


def unknown_override(workdir):
    (workdir / "pairs.tsv").write_text("content\tstyle\tsize\nphoto 0.png\tstyle0.jpg\t64\n")
    return {"pairs": "pairs.tsv"}


def zero_steps_row(workdir):
    (workdir / "pairs.tsv").write_text("content\tstyle\tsteps\nphoto 0.png\tstyle0.jpg\t0\n")
    return {"pairs": "pairs.tsv"}


CASES = {
    "size below the networks' least": (
        lambda w: {"size": 8},
        "8 is less than the minimum of 16",
    ),
    "steps: 0": (lambda w: {"steps": 0}, "0 is less than the minimum of 1"),
    "size below min_input_side": (
        lambda w: {"size": 24},
        "size 24 with style_scale 1.0 uses images 24 px on their long side, below "
        "min_input_side 32: every input would be too small. Raise size",
    ),
    "a style scale that makes tiny styles": (
        lambda w: {"size": 128, "style_scale": 0.1},
        "uses images 13 px on their long side, below min_input_side 32",
    ),
    "min_input_side below the networks' least": (
        lambda w: {"min_input_side": 4},
        "4 is less than the minimum of 16",
    ),
    "coarse_to_fine from 8 px": (
        lambda w: {"coarse_to_fine": {"enabled": True, "start": 8}},
        "8 is less than the minimum of 16",
    ),
    "a misspelt key": (lambda w: {"stpes": 10}, "Additional properties are not allowed"),
    "a pairs sheet with only a header": (header_only, "pairs.tsv lists no pairs"),
    "a pair override the sheet does not know": (
        unknown_override,
        "unknown column(s) size; columns are content, style and optionally mask, content_weight",
    ),
    "a pair with steps 0": (zero_steps_row, "row 2: steps must be a non-negative number >= 1"),
    # Once blamed on a style file (its decode asked for 120 GB), now on the setting.
    "a size no limit allows": (
        lambda w: {"size": 100000},
        "size 100000 with style_scale 1.0 makes images up to 100000x100000 px (10,000 "
        "megapixels), above max_input_megapixels 200: lower size",
    ),
    "a size no memory holds": (
        lambda w: {"size": 14000, "device": "cpu"},
        "size 14000: a job needs about 1178.0 GB of memory (nst.resources), more than the",
    ),
    # Once found by the first style job, after validation and planning.
    "a layer the network lacks": (
        lambda w: {"style_layers": {"conv1_1": 1.0, "nope_1": 1.0}},
        "style_layers: vgg19 has no layer nope_1; name some of conv1_1, relu1_1",
    ),
    # Once "input folder ... does not exist", though it does.
    "content_dir pointing at a file": (
        lambda w: {"content_dir": "in/content/photo 0.png"},
        "content_dir: in/content/photo 0.png is a file, not a folder; point content_dir at "
        "the folder of content images",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_setting_that_makes_no_sense_stops_before_any_job(tmp_path, vgg19_file, case):
    change, message = CASES[case]
    tiny_workflow(tmp_path, vgg19_file, min_input_side=32)
    update_config(tmp_path, **change(tmp_path))
    done = run_snakemake(tmp_path, "-n", check=False, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and message in output, output
    assert not (tmp_path / "results").exists()  # nothing ran, not even the input checks
