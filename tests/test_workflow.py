"""The real workflow through Snakemake on tiny images, with a random VGG19 in torchvision format."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from conftest import (
    ONE_THREAD,
    REPO,
    planned,
    run_snakemake,
    snakemake_command,
    tiny_workflow,
    update_config,
    write_image,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path, vgg19_file):
    return tiny_workflow(tmp_path, vgg19_file)


def records(workdir):
    return {p: p.stat().st_mtime_ns for p in (workdir / "results" / "records").rglob("*.json")}


def test_run_rerun_and_setting_changes(workdir):
    run_snakemake(workdir)
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
    tolerance = yaml.safe_load((workdir / "config.yaml").read_text())["stop_tolerance"]
    shards = len(list((workdir / "results" / "shards").glob("*.tsv")))

    update_config(workdir, style_weight=1e5)
    assert planned(workdir) == {"stylize_shard": shards, "summary": 1, "gallery": 1, "all": 1}

    update_config(workdir, style_layers={"conv1_1": 1.0, "conv2_1": 1.0})
    jobs = planned(workdir)
    assert jobs["style_targets"] == 2 and jobs["stylize_shard"] == shards
    assert "validate_inputs" not in jobs

    # The stop's tolerance changes images: its pairs rerun, the style caches do not.
    update_config(workdir, style_layers=None, stop_tolerance=0.5)
    assert planned(workdir) == {"stylize_shard": shards, "summary": 1, "gallery": 1, "all": 1}

    update_config(workdir, style_weight=None, log_every=1, shard_size=2, stop_tolerance=tolerance)
    assert planned(workdir) == {}  # back to the settings of the run; log_every is not an output

    # Highres where its base covers the size changes no image: nothing reruns.
    update_config(workdir, highres={"enabled": True, "tile": 256})
    assert planned(workdir) == {}

    update_config(workdir, gallery={"thumbnail_size": 128})  # the other keys keep defaults
    assert planned(workdir) == {"gallery": 1, "all": 1}


def test_new_photo_adds_only_its_pairs(workdir):
    run_snakemake(workdir)
    before = records(workdir)
    write_image(workdir / "in" / "content" / "new.png", 30, 40, seed=7)
    run_snakemake(workdir, "--until", "plan_shards")
    # A photo's styles share a shard (nst.shards): one job, the others untouched.
    assert planned(workdir)["stylize_shard"] == 1
    run_snakemake(workdir)
    after = records(workdir)
    assert len(after) == 8
    assert {p: after[p] for p in before} == before  # finished pairs untouched
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert len(summary) == 8 and (summary.content == "new.png").sum() == 2


def test_a_photo_replaced_with_its_size_and_date_kept_is_made_again(tmp_path, vgg19_file):
    """`cp -p other.bmp photo.bmp`: same byte size (BMP, same dimensions), same date."""
    tiny_workflow(tmp_path, vgg19_file, contents=1, styles=1, steps=2)
    photo = write_image(tmp_path / "in" / "content" / "snap.bmp", 30, 40, seed=1)
    other = write_image(tmp_path / "other.bmp", 30, 40, seed=2)
    os.utime(other, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns))
    run_snakemake(tmp_path)
    image = tmp_path / "results" / "stylized" / "style0" / "snap.png"
    made = image.read_bytes()

    shutil.copy2(other, photo)  # what cp -p does: the same file, new bytes, old date
    assert (photo.stat().st_size, photo.stat().st_mtime_ns) == (
        other.stat().st_size,
        other.stat().st_mtime_ns,
    )
    assert planned(tmp_path)["validate_inputs"] == 1
    run_snakemake(tmp_path, "--until", "plan_shards")
    assert planned(tmp_path)["stylize_shard"] == 1
    run_snakemake(tmp_path)
    assert image.read_bytes() != made
    assert planned(tmp_path) == {}


def test_killed_shard_resumes_without_redoing_finished_pairs(workdir):
    """Also: a second run started meanwhile is refused by Snakemake's lock."""
    update_config(workdir, steps=200, shard_size=64, log_every=100)
    command = snakemake_command(workdir, "--cores", "1")
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=ONE_THREAD,
    )
    deadline = time.time() + 300

    def wait_for(condition):
        while not condition() and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)

    # A second run on the same folder while the first works refuses, and says why.
    wait_for(lambda: list((workdir / "logs" / "stylize").glob("*.log")))
    second = run_snakemake(workdir, check=False, timeout=300)
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stdout + second.stderr
    assert process.poll() is None, "the first run must go on"

    wait_for(lambda: records(workdir))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = records(workdir)
    assert 1 <= len(finished) < 6, "the kill should land in the middle of the shard"
    stylized = workdir / "results" / "stylized"
    for png in stylized.rglob("*.png"):
        assert png.stat().st_size > 0

    run_snakemake(workdir, "--unlock")
    run_snakemake(workdir)
    after = records(workdir)
    assert len(after) == 6
    assert {p: after[p] for p in finished} == finished
    log = next((workdir / "logs" / "stylize").glob("*.log")).read_text()
    assert f"6 pairs: {len(finished)} already done, {6 - len(finished)} to run" in log
    assert not [p for p in stylized.rglob("*") if p.name.endswith(".part")]


def test_bad_inputs_are_listed_and_the_rest_proceeds(workdir):
    (workdir / "in" / "content" / "notes.txt").write_text("not a photo")
    (workdir / "in" / "content" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    done = run_snakemake(workdir)
    rejected = pd.read_csv(workdir / "results" / "inputs" / "rejected.tsv", sep="\t")
    assert sorted(os.path.basename(p) for p in rejected.path) == ["broken.jpg", "notes.txt"]
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert len(summary) == 6
    # The end of the run says so (nst.run_report), after Snakemake's own lines.
    end = done.stderr[done.stderr.rindex("Pairs: ") :]
    assert end.startswith("Pairs: 6 ok, 0 failed\n")
    gallery = workdir / "results" / "gallery" / "index.html"
    assert f"Gallery: results/gallery/index.html ({gallery.as_uri()})" in end
    names = r"(broken.jpg, notes.txt|notes.txt, broken.jpg)"
    assert re.search(
        rf"2 input file\(s\) rejected and skipped \({names}\): "
        r"results/inputs/rejected.tsv says why and what to do\n",
        end,
    ), end
    assert "input file(s) rejected" in gallery.read_text()  # and the front page says it too


def test_strict_mode_and_empty_folders_fail_clearly(workdir):
    (workdir / "in" / "content" / "notes.txt").write_text("not a photo")
    done = run_snakemake(workdir, "--config", "strict=True", check=False)
    assert done.returncode != 0
    assert "strict: true and 1 input file(s) were rejected" in done.stdout + done.stderr
    assert "The run stopped with errors (above); run it again" in done.stderr
    assert "Pairs: none summarised yet\nInputs: not validated yet\n" in done.stderr
    assert not (workdir / "results" / "summary.tsv").exists()
    for image in (workdir / "in" / "style").iterdir():
        image.unlink()
    done = run_snakemake(workdir, "-n", check=False)
    assert (
        done.returncode != 0 and "the style folder in/style is empty" in done.stdout + done.stderr
    )


def test_missing_weights_fail_before_any_job(workdir, tmp_path):
    update_config(
        workdir, weights={"vgg19": {"source": "torchvision", "file": str(tmp_path / "nowhere.pth")}}
    )
    done = run_snakemake(workdir, "-n", check=False)
    assert done.returncode != 0
    assert "nowhere.pth does not exist" in done.stderr + done.stdout


def test_fetch_weights_from_a_file_url(workdir, vgg19_file):
    from nst.io import sha256_file

    update_config(
        workdir,
        weights={
            "vgg19": {
                "source": "torchvision",
                "url": vgg19_file.as_uri(),
                "sha256": sha256_file(vgg19_file),
            }
        },
    )
    run_snakemake(workdir, "fetch_weights")
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


def test_auto_shard_size_fills_jobs_by_their_work(workdir):
    """shard_size auto: pairs per job = job_minutes at the configured speed."""
    run_snakemake(workdir, "--until", "plan_shards")
    pairs = 3 * 2
    # 32 px x 5 steps is 0.005 megapixel-steps a pair.
    # The shard size is the plan's: a change replans (a checkpoint) before the dry run
    # can count the jobs.
    update_config(workdir, shard_size="auto", job_minutes=30, seconds_per_megapixel_step=1e-3)
    run_snakemake(workdir, "--until", "plan_shards")
    assert planned(workdir)["stylize_shard"] == 1  # thousands fit in one job
    update_config(workdir, seconds_per_megapixel_step=1e6)  # 5000 s a pair
    run_snakemake(workdir, "--until", "plan_shards")
    assert planned(workdir)["stylize_shard"] == pairs


def test_each_pair_stops_when_converged_and_says_after_how_many_steps(tmp_path, vgg19_file):
    workdir = tiny_workflow(
        tmp_path, vgg19_file, contents=2, styles=1, steps=60, stop_window=5, stop_tolerance=0.3
    )
    run_snakemake(workdir)
    summary = pd.read_csv(workdir / "results" / "summary.tsv", sep="\t")
    assert set(summary.status) == {"ok"} and (summary.steps < 60).all()
    steps = dict(zip(summary.pair, summary.steps))
    for path in (workdir / "results" / "records").rglob("*.json"):
        record = json.loads(path.read_text())
        taken = record["row"]["steps"]
        assert taken == steps[record["row"]["pair"]] == len(record["history"]["rows"])


def test_the_console_says_where_each_job_is_and_each_finished_pair(workdir):
    """A pair job's progress reaches Snakemake's console (stderr, local jobs), not only
    its log: what it is on while it works, and a line per finished pair."""
    update_config(workdir, steps=60, console_every=0.2)
    command = snakemake_command(workdir, "--cores", "4")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=ONE_THREAD)
    console = done.stdout + done.stderr
    assert done.returncode == 0, console
    shards = {p.stem for p in (workdir / "results" / "shards").glob("*.tsv")}
    assert len(shards) >= 2  # several jobs, each saying its own lines
    for shard in shards:
        lines = [line for line in console.splitlines() if line.startswith(f"[shard {shard}]")]
        assert any("already done" in line and "to run" in line for line in lines), lines
        assert any("pairs done; now " in line and "step " in line for line in lines), lines
    scores = r"in [0-9.]+ s: style score [0-9.]+, content score [0-9.]+ "
    for content in range(3):
        for style in range(2):
            pattern = rf"\] done style{style}/photo {content} {scores}"
            assert len(re.findall(pattern, console)) == 1, console
