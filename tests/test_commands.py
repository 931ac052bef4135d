"""Commands the README and docs/ offer, run as a user would: first a test that every
command they show in a ```bash block is one a test here runs (COVERED names it), then
the ones this file runs itself after a tiny run: `make dry-run` (what would run, and
why), the gallery redraw from the results as they are, and the README's picture."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from PIL import Image

from conftest import REPO, planned, run_snakemake, tiny_workflow, update_config

# Every command of a ```bash block in README.md, docs/*.md and data/SOURCES.md -> the
# test that runs it ("file::function").  The `make` targets are run by what they
# expand to (test_make_targets_expand_to_the_commands_the_tests_run).
COVERED = {
    "make run": "test_workflow.py::test_run_rerun_and_setting_changes",
    "make test": "test_commands.py::test_make_targets_expand_to_the_commands_the_tests_run",
    "make gallery": "test_gallery.py::test_gallery_rule_reuses_results_and_report_builds",
    "make report": "test_gallery.py::test_gallery_rule_reuses_results_and_report_builds",
    "make weights": "test_workflow.py::test_fetch_weights_from_a_file_url",
    ".venv/bin/snakemake -n": "test_commands.py::test_dry_run_redraw_and_sample_sheet",
    ".venv/bin/snakemake gallery --allowed-rules gallery --forcerun gallery": (
        "test_commands.py::test_dry_run_redraw_and_sample_sheet"
    ),
    ".venv/bin/python bench/sample_sheet.py results sheet.jpg": (
        "test_commands.py::test_dry_run_redraw_and_sample_sheet"
    ),
    ".venv/bin/snakemake --unlock": (
        "test_workflow.py::test_killed_shard_resumes_without_redoing_finished_pairs"
    ),
    ".venv/bin/snakemake --workflow-profile profiles/slurm -n": (
        "test_slurm.py::test_slurm_profile_asks_one_gpu_per_pair_job"
    ),
    ".venv/bin/snakemake --workflow-profile profiles/slurm": (
        "test_slurm.py::test_workflow_on_slurm"
    ),
    "tests/slurm/local_slurm.sh start": "test_slurm.py::test_workflow_on_slurm",
    "tests/slurm/local_slurm.sh stop": "test_slurm.py::test_workflow_on_slurm",
    ".venv/bin/snakemake --workflow-profile profiles/slurm --slurm-status-command squeue "
    "--cores 2 --max-threads 2": "test_slurm.py::test_workflow_on_slurm",
    ".venv/bin/python data/fetch_samples.py --out /tmp/samples": (
        "test_samples.py::test_fetch_samples_makes_the_shipped_paintings_again"
    ),
}
# SLURM's and the shell's own tools, shown in docs/cluster.md for reading a run's state:
# not this project's commands (the job names and log paths they read are the tests').
OTHER_TOOLS = ("squeue ", "sacct ", "tail -f ", "ls ")
MAKE_TARGETS = {  # make target -> the command its recipe runs, as the covering test does
    "run": ".venv/bin/snakemake --cores 4",
    "dry-run": ".venv/bin/snakemake --cores 4 -n",
    "gallery": ".venv/bin/snakemake gallery --cores 4",
    "report": ".venv/bin/snakemake --cores 4 --report results/report.zip",
    "weights": ".venv/bin/snakemake fetch_weights --cores 1",
    "test": ".venv/bin/python -m pytest",
}


def documented_commands() -> dict[str, str]:
    """command -> the file that shows it, from the ```bash blocks (comments dropped,
    continued lines joined)."""
    found = {}
    for path in [REPO / "README.md", REPO / "data" / "SOURCES.md", *(REPO / "docs").glob("*.md")]:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                command = " ".join(line.split("#", 1)[0].split())
                if command:
                    found[command] = path.relative_to(REPO).as_posix()
    return found


def test_every_documented_command_is_run_by_a_test():
    documented = documented_commands()
    ours = {c: f for c, f in documented.items() if not c.startswith(OTHER_TOOLS)}
    uncovered = {c: f for c, f in ours.items() if c not in COVERED}
    assert not uncovered, f"commands the docs show that no test runs (add to COVERED): {uncovered}"
    assert not set(COVERED) - set(ours), "COVERED names commands no document shows any more"
    for test in set(COVERED.values()):
        file, name = test.split("::")
        tree = ast.parse((REPO / "tests" / file).read_text(encoding="utf-8"))
        assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, test


def test_make_targets_expand_to_the_commands_the_tests_run():
    for target, command in MAKE_TARGETS.items():
        recipe = subprocess.run(
            ["make", "-n", target], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert command in recipe, (target, recipe)
    # CI runs `make test` (.ci/run), which runs the whole suite.
    assert "make test" in (REPO / ".ci" / "run").read_text().splitlines()


@pytest.mark.slow
def test_dry_run_redraw_and_sample_sheet(tmp_path, vgg19_file):
    tiny_workflow(tmp_path, vgg19_file, contents=2, styles=1, steps=2, shard_size=64)
    run_snakemake(tmp_path)
    results = tmp_path / "results"
    index = results / "gallery" / "index.html"
    made = {p: p.stat().st_mtime_ns for p in (results / "stylized").rglob("*.png")}
    assert len(made) == 2

    # make dry-run: `snakemake --cores 4 -n`
    assert planned(tmp_path, "--cores", "4") == {}
    update_config(tmp_path, steps=3)  # changes every image: the pairs would run again
    dry = run_snakemake(tmp_path, "--cores", "4", "-n")
    assert planned(tmp_path, "--cores", "4") == {
        "stylize_shard": 1,
        "summary": 1,
        "gallery": 1,
        "all": 1,
    }
    assert "params" in dry.stdout + dry.stderr  # the reason: the settings changed
    assert {p: p.stat().st_mtime_ns for p in made} == made  # a dry run makes nothing

    # The redraw: the gallery from the results as they are, whatever the config says.
    before = index.stat().st_mtime_ns
    redraw = ("gallery", "--allowed-rules", "gallery", "--forcerun", "gallery")
    assert planned(tmp_path, *redraw) == {"gallery": 1}
    run_snakemake(tmp_path, *redraw)
    assert index.stat().st_mtime_ns > before
    assert {p: p.stat().st_mtime_ns for p in made} == made  # no pair was made again
    text = index.read_text(encoding="utf-8")
    assert "photo 0.png" in text and "photo 1.png" in text

    # The README's picture, from the folder the run ran in: photos across, styles down.
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "sample_sheet.py"),
            "results",
            "sheet.jpg",
            "--tile",
            "64",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "vgg19/torchvision, 32 px, at most 2 lbfgs steps from the content" in done.stdout
    step = 64 + 6  # tile and gap (bench/sample_sheet.py)
    assert Image.open(tmp_path / "sheet.jpg").size == (3 * step, 26 + 2 * step)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_docs_resolve():
    """Every relative link of README.md and docs/*.md names a file that exists, and an
    anchor one of its headings makes (the README's sections moved to docs/)."""
    broken = []
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor:
                headings = re.findall(r"^#+ (.*)$", path.read_text(encoding="utf-8"), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target}")
    assert not broken, broken
