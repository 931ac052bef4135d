"""One pair's failure stays with that pair: in every phase of a pair job, an error ends
that pair as a failed row that says what happened and what to do, and the other pairs
of the shard finish.  Only what no pair can be isolated from ends the job."""

import errno
import json
import os

import pytest

from conftest import runner
from nst import results as results_module
from nst.quality import Judge
from nst.shard import JobError, failures, finish, tasks
from nst.weights import WeightsError


def fail_for(pair_key, error, tasks_seen):
    """A replacement that raises `error` while the pair being handled is `pair_key`."""

    def check(*args, **kwargs):
        if tasks_seen and tasks_seen[-1] == pair_key:
            raise error

    return check


@pytest.fixture
def current_pair(monkeypatch):
    """The key of the pair whose result is being finished (nst.shard.finish)."""
    seen = []
    real = failures.finish_pair

    def tracking(job, task, *args):
        seen.append(task.pair.key)
        return real(job, task, *args)

    monkeypatch.setattr(failures, "finish_pair", tracking)
    return seen


def by_pair(rows):
    return {row.pair: row for row in rows}


def assert_only_c1_failed(rows, pairs, *expected):
    rows = by_pair(rows)
    assert rows["s/c0"].status == rows["s/c2"].status == "ok"
    for pair in (pairs[0], pairs[2]):
        assert os.path.isfile(pair.output) and os.path.isfile(pair.record)
    failed = rows["s/c1"]
    assert failed.status == "failed"
    for text in expected:
        assert text in failed.message, failed.message
    assert not os.path.exists(pairs[1].record)
    return failed


@pytest.mark.parametrize(
    "module, target, phase",
    [
        (finish, "preserve_color", "the colour step (preserve_color) failed"),
        (results_module, "save_png", "writing its image and record failed"),
        (results_module, "write_json", "writing its image and record failed"),
    ],
)
def test_a_failure_after_optimising_fails_that_pair_only(
    shard_setup, monkeypatch, current_pair, module, target, phase
):
    settings, pairs, weights, _ = shard_setup
    real = getattr(module, target)
    error = ValueError("a bug in the colour step")
    if target != "preserve_color":
        error = PermissionError(errno.EACCES, "Permission denied")

    def flaky(*args, **kwargs):
        fail_for("s/c1", error, current_pair)()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, target, flaky)
    lines = []
    rows = runner(settings, weights, lines=lines).run(pairs).rows
    failed = assert_only_c1_failed(rows, pairs, phase, "run again to retry this pair")
    assert type(error).__name__ in failed.message
    assert failed.total_loss < failed.initial_loss  # what it did reach is kept
    assert any("FAILED s/c1" in line and "Traceback" in line for line in lines)


def test_a_failing_quality_score_fails_that_pair_only(shard_setup, monkeypatch, current_pair):
    settings, pairs, weights, _ = shard_setup
    real = Judge.score

    def flaky(self, *args):
        fail_for("s/c1", RuntimeError("judge broke"), current_pair)()
        return real(self, *args)

    monkeypatch.setattr(Judge, "score", flaky)
    rows = runner(settings, weights).run(pairs).rows
    assert_only_c1_failed(rows, pairs, "the quality score failed", "judge broke")
    assert not os.path.exists(pairs[1].output)
    assert all(by_pair(rows)[k].style_score > 0 for k in ("s/c0", "s/c2"))


def test_a_batch_that_fails_is_run_pair_by_pair(shard_setup, monkeypatch):
    """An error inside a batch of three: each pair alone tells which one broke it."""
    settings, pairs, weights, _ = shard_setup

    real = failures.optimize_batch

    def breaks_on_c1(job, batch, contents, safer=False):
        if "s/c1" in [task.pair.key for task in batch]:
            raise IndexError("a bug of ours")
        return real(job, batch, contents, safer)

    monkeypatch.setattr(failures, "optimize_batch", breaks_on_c1)
    lines = []
    rows = runner(settings, weights, batch_size=3, lines=lines).run(pairs).rows
    assert_only_c1_failed(rows, pairs, "optimising failed: IndexError: a bug of ours")
    assert any("a batch of 3 failed" in line for line in lines)


def test_a_bug_while_reading_fails_that_pair_only(shard_setup, monkeypatch):
    settings, pairs, weights, _ = shard_setup
    real = tasks.sha256_file

    def flaky(path, *args):
        if path == pairs[1].content:
            raise KeyError("oops")
        return real(path, *args)

    monkeypatch.setattr(tasks, "sha256_file", flaky)
    rows = runner(settings, weights).run(pairs).rows
    assert_only_c1_failed(rows, pairs, "reading its images and style targets failed: KeyError")


def test_a_full_disk_or_a_network_that_cannot_load_ends_the_job(shard_setup, monkeypatch):
    settings, pairs, weights, _ = shard_setup

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results_module, "save_png", disk_full)
    with pytest.raises(JobError, match=r"disk full while writing .*c0.png: free some space"):
        runner(settings, weights).run(pairs)

    def no_judge(self, *args):
        raise WeightsError("efficientnet weights missing (simulated)")

    monkeypatch.setattr(Judge, "score", no_judge)
    with pytest.raises(JobError, match="a network cannot load: efficientnet weights missing"):
        runner(settings, weights).run(pairs)
    with pytest.raises(JobError, match="the network .* cannot load"):
        runner(settings, weights.parent / "missing.pth").run(pairs)


def test_a_damaged_record_or_truncated_image_is_made_again(shard_setup):
    settings, pairs, weights, _ = shard_setup
    runner(settings, weights).run(pairs)
    with open(pairs[0].record, "w") as handle:
        json.dump(["not", "a", "record"], handle)
    data = open(pairs[1].output, "rb").read()
    open(pairs[1].output, "wb").write(data[: len(data) // 2])
    lines = []
    rows = runner(settings, weights, lines=lines).run(pairs).rows
    assert any("3 pairs: 1 already done, 2 to run" in line for line in lines)
    assert all(row.status == "ok" for row in rows)
    assert open(pairs[1].output, "rb").read() != data[: len(data) // 2]
