"""Snakemake script: optimise one shard of pairs; write its manifest (one row per pair)."""

from nst.gpus import claim_gpu
from nst.plan import read_shard_plan
from nst.row import SUMMARY_COLUMNS
from nst.runtime import job_log, pick_batch_size, pick_device, set_threads, tune_allocator
from nst.settings import PairSettings
from nst.shard import ShardRunner
from nst.shard.console import Console
from nst.tsv import write_table

sm = snakemake  # noqa: F821  (provided by Snakemake)
config = sm.config
settings = PairSettings.from_params(sm.params.settings)

with job_log(sm.log[0]) as log, Console(sm.wildcards.shard, config["console_every"]) as console:
    tune_allocator()
    set_threads(sm.threads)
    claim_gpu(config["device"], log=log)  # one GPU of several per job; before CUDA starts
    device = pick_device(config["device"])
    pixels = settings.size**2
    runner = ShardRunner(
        settings,
        weights_file=sm.input.weights,
        weights_sha256=config["weights"].get(settings.backbone, {}).get("sha256"),
        device=device,
        batch_size=min(
            pick_batch_size(config["batch_size"], device, pixels), sm.resources.max_batch
        ),
        progress_every=config["log_every"],
        log=log,
        max_megapixels=config["max_input_megapixels"],
        console=console,
    )
    report = runner.run(read_shard_plan(sm.input.plan))
    for row in report.rows:
        if row.status != "ok":
            log(f"FAILED {row.style} x {row.content}: {row.message}")
    write_table(sm.output[0], SUMMARY_COLUMNS, [row.to_dict() for row in report.rows])
    mean_batch = sum(report.batches) / max(1, len(report.batches))
    counts = (
        f"shard done: {report.reused + report.ok} ok ({report.reused} kept), "
        f"{report.failed} failed, {report.retried} retried"
    )
    log(f"{counts}; {len(report.batches)} batch(es) of {mean_batch:.1f} images on average")
    console.say(counts)
