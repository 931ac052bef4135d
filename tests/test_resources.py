"""The resource model of the jobs (nst.resources): pure functions of the settings and pairs."""

import pytest
import yaml

from conftest import REPO
from nst import resources as R
from nst.catalog import network
from nst.settings import PairSettings


def test_work_counts_every_stage_of_every_pair():
    one = ((384, 300),)
    staged = ((128, 100), (384, 300))
    assert R.megapixel_steps([one]) == pytest.approx(384**2 * 300 / 1e6)
    assert R.megapixel_steps([one, staged]) == pytest.approx(
        (2 * 384**2 * 300 + 128**2 * 100) / 1e6
    )
    assert R.megapixel_steps([]) == 0


def test_cpu_memory_grows_with_pixels_and_batch_gpu_memory_is_fixed():
    small, large = R.pair_mem_mb(0, 256, "auto"), R.pair_mem_mb(0, 1024, "auto")
    assert R.CPU_JOB_BASE_MB < small < large
    assert R.pair_mem_mb(0, 1024, 4) - R.CPU_JOB_BASE_MB == pytest.approx(
        4 * (large - R.CPU_JOB_BASE_MB), rel=1e-3
    )
    assert R.pair_mem_mb(1, 256, 8) == R.pair_mem_mb(1, 4096, 8) == R.GPU_JOB_HOST_MB


def test_each_retry_doubles_memory_and_time_and_halves_the_batch():
    assert R.pair_mem_mb(0, 512, 1, attempt=3) == pytest.approx(4 * R.pair_mem_mb(0, 512, 1), abs=4)
    work = 1000.0  # megapixel-steps: well above the shortest job
    assert R.pair_runtime_minutes(work, 0, 2, attempt=2) == pytest.approx(
        2 * R.pair_runtime_minutes(work, 0, 2), abs=1
    )
    assert [R.max_batch("auto", a) for a in (1, 2, 3, 4, 5, 6)] == [16, 8, 4, 2, 1, 1]
    assert R.max_batch(3, 2) == 1
    assert R.style_runtime_minutes(2) == 2 * R.style_runtime_minutes(1)
    assert R.style_mem_mb(0, 384, 2) == pytest.approx(2 * R.style_mem_mb(0, 384), abs=2)


def test_runtime_follows_the_work_threads_and_device_with_a_floor():
    assert R.pair_runtime_minutes(0.0, 0, 1) == R.SHORTEST_JOB_MINUTES
    work = 44.2  # 1 pair, 384 px, 300 steps
    cpu_one, cpu_eight = R.pair_runtime_minutes(work, 0, 1), R.pair_runtime_minutes(work, 0, 8)
    # start-up + 2x headroom over 44.2 x 30 s on one thread
    assert cpu_one == int(-(-(R.JOB_START_SECONDS + 2 * work * 30) // 60))
    assert cpu_eight < cpu_one
    assert R.pair_runtime_minutes(100 * work, 1, 2) < R.pair_runtime_minutes(100 * work, 0, 8)


def test_jobs_are_sized_by_their_work_and_device():
    pair = R.megapixel_steps([((384, 300),)])  # 44 megapixel-steps
    gpu = R.pairs_per_job(15, pair, R.expected_seconds_per_megapixel_step(1, 2))
    cpu = R.pairs_per_job(15, pair, R.expected_seconds_per_megapixel_step(0, 8))
    assert 300 <= gpu <= R.MAX_PAIRS_PER_JOB  # hundreds of pairs per GPU job at 384 px
    assert 1 <= cpu <= 10  # a few per CPU job
    assert R.pairs_per_job(15, 4 * pair, 1.0) <= R.pairs_per_job(15, pair, 1.0) // 4 + 1
    assert R.pairs_per_job(1, 1e9, 1.0) == 1
    assert R.pairs_per_job(1e6, 1e-9, 1e-9) == R.MAX_PAIRS_PER_JOB


def highres_settings(size, **block):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(size=size, highres={**config["highres"], "enabled": True, **block})
    return PairSettings.from_config(config, network("vgg19"), "w.bin")


def test_highres_memory_follows_the_tile_not_the_image():
    s = highres_settings(4096)
    untiled = R.pair_mem_mb(0, 4096, 1)
    tiled = R.pair_mem_mb(0, 4096, 1, highres=s.highres)
    assert untiled > 100_000 and tiled < 6_000  # MB: the goal is 6 GB at 4096 px
    bigger_tile = R.pair_mem_mb(0, 4096, 1, highres=highres_settings(4096, tile=1024).highres)
    assert bigger_tile > tiled
    # Beside a GPU only the image buffers are on the host; a budget bounds tile: auto.
    assert R.GPU_JOB_HOST_MB < R.pair_mem_mb(1, 4096, 1, highres=s.highres) < tiled + 6144
    budget = highres_settings(4096, tile="auto", memory_budget=3.0).highres
    assert R.pair_mem_mb(0, 4096, 1, highres=budget) == R.CPU_JOB_BASE_MB + 3000


def test_highres_work_counts_the_passes_of_every_scale():
    s = highres_settings(2048, steps=10)
    whole = R.megapixel_steps([s.stages])
    passes = (1024**2 + 2048**2) * 10 / 1e6
    assert R.pair_work(s) == pytest.approx(whole + R.HIGHRES_PASS_COST * passes)
    assert R.pair_work(s, steps=30) < R.pair_work(s)  # a sheet's steps: the base stage's


def test_jobs_are_sized_by_the_expected_steps_and_limited_by_the_cap(monkeypatch):
    monkeypatch.setattr(R, "EXPECTED_STOP_SHARE", 0.5)  # a measured share below the cap
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    stopping = PairSettings.from_config({**config, "stop_tolerance": 1e-3}, network("vgg19"), "w")
    capped = PairSettings.from_config({**config, "stop_tolerance": 0}, network("vgg19"), "w")
    assert R.pair_work(stopping) == R.pair_work(capped)  # time limits: the cap
    assert R.pair_work(capped, expected=True) == R.pair_work(capped)
    assert R.pair_work(stopping, expected=True) == pytest.approx(0.5 * R.pair_work(capped))
