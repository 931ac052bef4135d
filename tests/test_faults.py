"""Faults inside a pair job: divergence, GPU out of memory, a full disk, untrusted caches."""

import os
from dataclasses import replace

import pytest
import torch

from conftest import runner, small_disk
from nst import style_targets
from nst import stylize as stylize_module
from nst.descent import optimize as real_optimize
from nst.plan import Pair
from nst.shard import failures


def test_a_diverged_pair_is_retried_with_safer_settings(shard_setup, monkeypatch):
    settings, pairs, weights, _ = shard_setup
    settings = replace(settings, precision="bf16")

    def nan_unless_fp32(net, content, grams, weights, method, init, **kwargs):
        outcome = real_optimize(net, content, grams, weights, method, init, **kwargs)
        if method.precision != "fp32":
            outcome.finite[0] = False  # the first image of each first attempt blows up
        return outcome

    monkeypatch.setattr(stylize_module, "optimize", nan_unless_fp32)
    lines = []
    rows = runner(settings, weights, lines=lines).run(pairs).rows
    assert [r.status for r in rows] == ["ok"] * 3
    retried = [r for r in rows if r.message]
    assert len(retried) == 3  # batch size 1: the first image of every batch
    assert all("retried with fp32 and 0.25 x the learning rate" in r.message for r in retried)
    assert all(r.precision == "fp32" for r in retried)
    assert any("diverged; retrying them" in line for line in lines)


def test_a_pair_that_diverges_twice_fails_alone(shard_setup, monkeypatch):
    settings, pairs, weights, _ = shard_setup

    def always_nan_for_c1(net, content, grams, weights, method, init, **kwargs):
        outcome = real_optimize(net, content, grams, weights, method, init, **kwargs)
        if len(pairs_in_batch) and pairs_in_batch[-1] == "s/c1":
            outcome.finite[0] = False
        return outcome

    pairs_in_batch = []
    original_optimize = failures.optimize_batch

    def tracking(job, tasks, contents, safer=False):
        pairs_in_batch.append(tasks[0].pair.key)
        return original_optimize(job, tasks, contents, safer)

    monkeypatch.setattr(failures, "optimize_batch", tracking)
    monkeypatch.setattr(stylize_module, "optimize", always_nan_for_c1)
    rows = {r.pair: r for r in runner(settings, weights).run(pairs).rows}
    assert rows["s/c1"].status == "failed"
    assert "diverged" in rows["s/c1"].message and "even with fp32" in rows["s/c1"].message
    assert not os.path.exists(pairs[1].output) and not os.path.exists(pairs[1].record)
    assert rows["s/c0"].status == rows["s/c2"].status == "ok"


def test_out_of_gpu_memory_splits_the_batch(shard_setup, monkeypatch):
    settings, pairs, weights, _ = shard_setup

    def small_gpu(net, content, grams, weights, method, init, **kwargs):
        if content.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_optimize(net, content, grams, weights, method, init, **kwargs)

    monkeypatch.setattr(stylize_module, "optimize", small_gpu)
    lines = []
    rows = runner(settings, weights, batch_size=3, lines=lines).run(pairs).rows
    assert [r.status for r in rows] == ["ok"] * 3
    assert any("out of GPU memory with 3 images; retrying as 1 + rest" in line for line in lines)
    assert any("out of GPU memory with 2 images" in line for line in lines)


def test_out_of_memory_for_one_image_is_a_clear_error(shard_setup, monkeypatch):
    settings, pairs, weights, _ = shard_setup

    def no_gpu_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(stylize_module, "optimize", no_gpu_memory)
    with pytest.raises(
        RuntimeError, match="out of GPU memory for a single 40x30 image; lower size"
    ):
        runner(settings, weights).run(pairs[:1])


def test_disk_full_is_a_clear_error_and_leaves_nothing_half_written(shard_setup, tmp_path):
    settings, pairs, weights, _ = shard_setup
    with small_disk(tmp_path / "small_disk") as disk:  # about one kilobyte left
        small = [
            Pair(
                **{
                    **p.__dict__,
                    "output": str(disk / "out" / f"{i}.png"),
                    "record": str(disk / "rec" / f"{i}.json"),
                }
            )
            for i, p in enumerate(pairs[:1])
        ]
        with pytest.raises(RuntimeError, match="disk full while writing .*0.png: free some space"):
            runner(settings, weights).run(small)
        leftovers = [p.name for p in disk.rglob("*") if p.is_file()]
        assert leftovers == ["filler"]


def test_a_pickle_in_the_cache_folder_is_never_unpickled(shard_setup, tmp_path, monkeypatch):
    import pickle

    settings, pairs, weights, cache = shard_setup

    class Exploit:
        def __reduce__(self):
            return (exec, ("open('PWNED', 'w').write('x')",))

    monkeypatch.chdir(tmp_path)
    cache.write_bytes(pickle.dumps({"64/conv1_1": Exploit()}))
    with pytest.raises(style_targets.StaleTargetsError, match="damaged style target cache"):
        style_targets.read(cache, settings.style_targets())
    rows = runner(settings, weights).run(pairs[:1]).rows  # the job recomputes it instead
    assert rows[0].status == "ok"
    assert not (tmp_path / "PWNED").exists()
