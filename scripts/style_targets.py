"""Snakemake script: compute and cache one style image's Gram matrices."""

import time

from nst import style_targets
from nst.backbones import build_backbone
from nst.catalog import network
from nst.gpus import claim_gpu
from nst.runtime import job_log, pick_device, set_threads
from nst.settings import StyleTargetSettings

sm = snakemake  # noqa: F821  (provided by Snakemake)
settings = StyleTargetSettings.from_params(sm.params.settings)

with job_log(sm.log[0]) as log:
    set_threads(sm.threads)
    claim_gpu(sm.config["device"], log=log)  # one GPU of several per job; before CUDA starts
    device = pick_device(sm.config["device"])
    started = time.perf_counter()
    net = build_backbone(
        network(settings.backbone, settings.source),
        sm.input.weights,
        settings.style_layers,
        settings.pooling,
        sm.config["weights"].get(settings.backbone, {}).get("sha256"),
    ).to(device)
    targets = style_targets.compute(
        net,
        sm.input.style,
        settings.style_layers,
        settings.style_sizes,
        device,
        sm.config["max_input_megapixels"],
    )
    style_targets.write(sm.output[0], targets, settings, sm.input.style)
    log(
        f"{sm.input.style}: {len(targets)} Gram matrices at sizes {list(settings.style_sizes)} "
        f"on {device} in {time.perf_counter() - started:.1f} s"
    )
