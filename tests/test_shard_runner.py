"""A pair job end to end, without Snakemake: reuse, batching, failures, stale caches."""

import json
import os
from dataclasses import replace

import pytest

from conftest import runner, write_image
from nst import style_targets
from nst.images import load_image
from nst.plan import Pair


def test_runs_pairs_and_logs_progress(shard_setup):
    settings, pairs, weights, _ = shard_setup
    lines = []
    report = runner(settings, weights, lines=lines).run(pairs)
    assert (report.ok, report.reused, report.failed, report.batches) == (3, 0, 0, [1, 1, 1])
    for row, pair in zip(report.rows, pairs):
        assert row.status == "ok" and row.total_loss < row.initial_loss
        assert load_image(pair.output).shape == (3, 30, 40)
        record = json.loads(open(pair.record).read())
        assert record["row"] == row.to_dict() and len(record["history"]["rows"]) == 6
    assert sum("step 3/6" in line for line in lines) == 3  # a line every 3 steps
    assert any("3 pairs: 0 already done, 3 to run" in line for line in lines)


def test_a_rerun_keeps_finished_pairs_and_redoes_missing_ones(shard_setup):
    settings, pairs, weights, _ = shard_setup
    runner(settings, weights).run(pairs[:2])
    stamps = [open(p.output, "rb").read() for p in pairs[:2]]
    mtimes = [os.stat(p.output).st_mtime_ns for p in pairs[:2]]
    report = runner(settings, weights).run(pairs)
    assert (report.reused, report.ok, report.failed) == (2, 1, 0)
    assert [open(p.output, "rb").read() for p in pairs[:2]] == stamps
    assert [os.stat(p.output).st_mtime_ns for p in pairs[:2]] == mtimes


def test_a_changed_setting_redoes_the_pairs(shard_setup):
    settings, pairs, weights, _ = shard_setup
    runner(settings, weights).run(pairs[:1])
    changed = replace(settings, style_weight=10.0)
    assert runner(changed, weights).run(pairs[:1]).reused == 0
    assert runner(changed, weights).run(pairs[:1]).reused == 1
    override = Pair(**{**pairs[0].__dict__, "overrides": {"tv_weight": 0.5}})
    assert runner(changed, weights).run([override]).reused == 0


def test_batched_results_equal_one_at_a_time(shard_setup, tmp_path):
    settings, pairs, weights, _ = shard_setup
    one = runner(settings, weights, batch_size=1).run(pairs).rows
    singles = [load_image(p.output) for p in pairs]
    batched_pairs = [
        Pair(**{**p.__dict__, "output": p.output + ".b.png", "record": p.record + ".b"})
        for p in pairs
    ]
    report = runner(settings, weights, batch_size=3).run(batched_pairs)
    assert report.batches == [3]
    for a, b, single, pair in zip(one, report.rows, singles, batched_pairs):
        assert b.total_loss == pytest.approx(a.total_loss, rel=1e-3)
        assert (load_image(pair.output) - single).abs().max() <= 2 / 255


def test_pairs_batch_by_shape_whatever_their_order(shard_setup, tmp_path):
    """Mixed shapes in a shard: each shape's pairs share batches, full but the last."""
    settings, pairs, weights, _ = shard_setup
    wide = write_image(tmp_path / "content" / "wide.png", 20, 40, seed=5)
    mixed = []
    for i in range(5):
        template = pairs[i % len(pairs)]
        content = str(wide) if i % 2 else template.content
        mixed.append(
            Pair(
                **{
                    **template.__dict__,
                    "key": f"s/m{i}",
                    "content": content,
                    "output": str(tmp_path / "mixed" / f"m{i}.png"),
                    "record": str(tmp_path / "mixed" / f"m{i}.json"),
                }
            )
        )
    report = runner(settings, weights, batch_size=2).run(mixed)
    assert report.ok == 5
    assert sorted(report.batches) == [1, 2, 2]  # 3 of 30x40 (2 + 1), 2 of 20x40
    shapes = {row.pair: (row.height, row.width) for row in report.rows}
    assert shapes == {f"s/m{i}": (20, 40) if i % 2 else (30, 40) for i in range(5)}


def test_an_unreadable_content_fails_its_pair_only(shard_setup):
    settings, pairs, weights, _ = shard_setup
    open(pairs[1].content, "wb").write(b"not an image any more")
    rows = runner(settings, weights).run(pairs).rows
    assert [r.status for r in rows].count("ok") == 2
    failed = next(r for r in rows if r.status == "failed")
    assert "c1.png" in failed.message and "not an image" in failed.message


def test_a_damaged_style_cache_is_recomputed_not_used(shard_setup):
    settings, pairs, weights, cache = shard_setup
    good = open(cache, "rb").read()
    open(cache, "wb").write(good[: len(good) // 2])
    lines = []
    rows = runner(settings, weights, lines=lines).run(pairs[:1]).rows
    assert rows[0].status == "ok"
    assert any("damaged style target cache" in line and "recomputing" in line for line in lines)
    style_targets.read(cache, settings.style_targets())  # valid again


def test_a_cache_made_with_other_settings_is_refused(shard_setup):
    settings, _, _, cache = shard_setup
    other = replace(settings, style_layers={"conv1_1": 1.0}).style_targets()
    with pytest.raises(style_targets.StaleTargetsError, match="other settings"):
        style_targets.read(cache, other)


def test_bf16_runs_end_in_fp32_and_record_the_precision(shard_setup):
    settings, pairs, weights, _ = shard_setup
    rows = runner(replace(settings, precision="bf16"), weights).run(pairs[:1]).rows
    assert rows[0].status == "ok" and rows[0].precision == "bf16"
    assert rows[0].total_loss < rows[0].initial_loss


def test_a_photos_variants_decode_it_once_and_differ_by_their_settings_only(
    shard_setup, tmp_path, monkeypatch
):
    from nst.shard import runner as runner_module

    settings, pairs, weights, _ = shard_setup
    base = pairs[0]
    variants = [
        replace(
            base,
            key=f"{name}/{base.key}",
            variant=name,
            output=str(tmp_path / name / "c0.png"),
            record=str(tmp_path / name / "c0.json"),
            overrides=changes,
        )
        for name, changes in (("same", {}), ("strong", {"style_weight": 1e4}))
    ]
    decoded, real = [], runner_module.load_image
    monkeypatch.setattr(
        runner_module, "load_image", lambda *a, **k: decoded.append(a[0]) or real(*a, **k)
    )
    assert runner(settings, weights).run(variants).ok == 2
    assert decoded == [base.content]  # one decoding for the photo's two variants
    runner(settings, weights).run([base])
    same, strong = (load_image(v.output) for v in variants)
    assert (same == load_image(base.output)).all()  # a variant without changes: the pair
    assert not (strong == same).all()
