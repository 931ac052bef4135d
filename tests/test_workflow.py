"""The real workflow through Snakemake on tiny images, with a random VGG19 in torchvision format."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from conftest import REPO, write_image

pytestmark = pytest.mark.slow


def snakemake(workdir, *args, timeout=600, check=True):
    # One core: tiny images gain nothing from threads, and tests stay fast on a busy machine.
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "1",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def planned(workdir, *args):
    """Jobs a dry run would execute, by rule (empty when nothing is to be done)."""
    out = snakemake(workdir, "-n", *args)
    text = out.stdout + out.stderr
    counts, table = {}, False
    for line in text.splitlines():
        if line.startswith("job ") and "count" in line:
            table = True
        elif table and line.startswith("total"):
            break
        elif table and line.strip() and not line.startswith("-"):
            rule, count = line.split()
            counts[rule] = int(count)
    return counts


def write_config(workdir, **changes):
    """Write workdir/config.yaml: the repository's config with `changes` applied."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(min_input_side=16)
    config.update(changes)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def update_config(workdir, **changes):
    """Change keys of the workdir's current config."""
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config.update(changes)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture
def workdir(tmp_path, vgg19_file):
    for i in range(3):
        write_image(tmp_path / "in" / "content" / f"photo {i}.png", 30, 40, seed=i)
    for i in range(2):
        write_image(tmp_path / "in" / "style" / f"style{i}.jpg", 40, 40, seed=10 + i)
    write_config(
        tmp_path,
        content_dir="in/content",
        style_dir="in/style",
        backbone="vgg19",
        weights={"vgg19": {"file": str(vgg19_file)}},
        size=32,
        steps=5,
        shard_size=2,
        log_every=5,
    )
    return tmp_path


def records(workdir):
    return {p: p.stat().st_mtime_ns for p in (workdir / "results" / "records").rglob("*.json")}


def test_run_rerun_and_setting_changes(workdir):
    snakemake(workdir)
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert len(summary) == 6 and set(summary.status) == {"ok"}
    assert (summary.total_loss < summary.initial_loss).all()
    assert set(summary.backbone) == {"vgg19"}
    for path in summary.output:
        assert (workdir / path).is_file()
    assert (workdir / "results" / "stylized" / "style0" / "photo 0.png").is_file()
    logs = list((workdir / "logs" / "stylize").glob("*.log"))
    assert logs and all("step 5/5" in log.read_text() for log in logs)

    assert planned(workdir) == {}  # nothing changed: nothing to do
    shards = len(list((workdir / "results" / "shards").glob("*.tsv")))

    update_config(workdir, style_weight=1e5)
    assert planned(workdir) == {"stylize_shard": shards, "summary": 1, "gallery": 1, "all": 1}

    update_config(workdir, style_layers={"conv1_1": 1.0, "conv2_1": 1.0})
    jobs = planned(workdir)
    assert jobs["style_targets"] == 2 and jobs["stylize_shard"] == shards
    assert "validate_inputs" not in jobs

    update_config(workdir, style_layers=None, style_weight=None, log_every=1, shard_size=2)
    assert planned(workdir) == {}  # back to the settings of the run; log_every is not an output


def test_new_photo_adds_only_its_pairs(workdir):
    snakemake(workdir)
    before = records(workdir)
    write_image(workdir / "in" / "content" / "new.png", 30, 40, seed=7)
    snakemake(workdir)
    after = records(workdir)
    assert len(after) == 8
    assert {p: after[p] for p in before} == before  # finished pairs untouched
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert len(summary) == 8 and (summary.content == "new.png").sum() == 2


def test_killed_shard_resumes_without_redoing_finished_pairs(workdir):
    update_config(workdir, steps=200, shard_size=64, log_every=100)
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "1",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    while not records(workdir) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = records(workdir)
    assert 1 <= len(finished) < 6, "the kill should land in the middle of the shard"
    stylized = workdir / "results" / "stylized"
    for png in stylized.rglob("*.png"):
        assert png.stat().st_size > 0

    snakemake(workdir, "--unlock")
    snakemake(workdir)
    after = records(workdir)
    assert len(after) == 6
    assert {p: after[p] for p in finished} == finished
    log = next((workdir / "logs" / "stylize").glob("*.log")).read_text()
    assert f"6 pairs: {len(finished)} already done, {6 - len(finished)} to run" in log
    assert not [p for p in stylized.rglob("*") if p.name.endswith(".part")]


def test_bad_inputs_are_listed_and_the_rest_proceeds(workdir):
    (workdir / "in" / "content" / "notes.txt").write_text("not a photo")
    (workdir / "in" / "content" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    snakemake(workdir)
    rejected = pd.read_csv(workdir / "results" / "inputs" / "rejected.tsv", sep="\t")
    assert sorted(os.path.basename(p) for p in rejected.path) == ["broken.jpg", "notes.txt"]
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert len(summary) == 6


def test_strict_mode_and_empty_folders_fail_clearly(workdir):
    (workdir / "in" / "content" / "notes.txt").write_text("not a photo")
    done = snakemake(workdir, "--config", "strict=True", check=False)
    assert done.returncode != 0
    assert "strict: true and 1 input file(s) were rejected" in done.stdout + done.stderr
    assert not (workdir / "results" / "summary.tsv").exists()
    for image in (workdir / "in" / "style").iterdir():
        image.unlink()
    done = snakemake(workdir, "-n", check=False)
    assert (
        done.returncode != 0 and "the style folder in/style is empty" in done.stdout + done.stderr
    )


def test_missing_weights_fail_before_any_job(workdir, tmp_path):
    update_config(workdir, weights={"vgg19": {"file": str(tmp_path / "nowhere.pth")}})
    done = snakemake(workdir, "-n", check=False)
    assert done.returncode != 0
    assert "nowhere.pth does not exist" in done.stderr + done.stdout


def test_fetch_weights_from_a_file_url(workdir, vgg19_file):
    from nst.io import sha256_file

    update_config(
        workdir, weights={"vgg19": {"url": vgg19_file.as_uri(), "sha256": sha256_file(vgg19_file)}}
    )
    snakemake(workdir, "fetch_weights")
    assert (
        workdir / "resources" / "weights" / "vgg19-dcbb9e9d.pth"
    ).stat().st_size == vgg19_file.stat().st_size


def test_lint_and_format_are_clean():
    lint = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-n"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lint.returncode == 0 and "good condition" in lint.stdout + lint.stderr, (
        lint.stdout + lint.stderr
    )
    fmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
