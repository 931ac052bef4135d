# Shared set-up: the backbone, the resolved settings, and the plan of pairs and shards.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from nst.catalog import INFO, default_weights_file, resolve_backbone
from nst.gpus import visible_gpus
from nst.plan import candidates, make_plan
from nst.settings import pair_settings, style_target_settings
from nst.weights import WeightsError

RESULTS = Path(config["results"])
LOGS = Path("logs")

try:
    BACKBONE = resolve_backbone(config["backbone"], config["weights"])
except (WeightsError, KeyError) as err:
    raise WorkflowError(str(err)) from None
if BACKBONE.note:
    logger.warning(BACKBONE.note)

# What changes an image (params of the pair jobs) and what changes a style cache.
SETTINGS = pair_settings(config, BACKBONE.name, BACKBONE.file.name)
STYLE_SETTINGS = style_target_settings(SETTINGS)
WEIGHTS_FILE = str(BACKBONE.file)


def _downloads():
    """resources/weights/ file name -> where the download rule gets it."""
    out = {}
    for name, info in INFO.items():
        own = config["weights"].get(name, {})
        url = own.get("url") or info.weights_url
        if url and not own.get("file"):
            out[default_weights_file(name).name] = {
                "url": url,
                "sha256": own.get("sha256", ""),
            }
    return out


DOWNLOADS = _downloads()
_fetch = "vgg19" if config["backbone"] == "auto" else config["backbone"]
FETCH_TARGET = str(
    config["weights"].get(_fetch, {}).get("file") or default_weights_file(_fetch)
)


# Pair and style jobs take one GPU each where there is one; the profile caps the total.
GPU_PER_JOB = 1 if visible_gpus(config["device"]) else 0

try:
    CANDIDATES = candidates(config)
except FileNotFoundError as err:
    raise WorkflowError(
        f"{err}; set content_dir and style_dir in config.yaml"
    ) from None
for role, files in CANDIDATES.items():
    if not files:
        raise WorkflowError(
            f"the {role} folder {config[role + '_dir']} is empty; "
            f"put {role} images there or point {role}_dir in config.yaml elsewhere"
        )

_plans = {}


def plan():
    """The pairs and shards, built from the validated inputs (after the checkpoint)."""
    accepted_tsv = checkpoints.validate_inputs.get().output.accepted
    stamp = Path(accepted_tsv).stat().st_mtime_ns
    if stamp not in _plans:
        with open(accepted_tsv) as handle:
            next(handle)  # header
            accepted = {Path(line.split("\t", 1)[0]) for line in handle}
        _plans[stamp] = make_plan(config, accepted)
    return _plans[stamp]


def shard_manifests(wildcards):
    return [RESULTS / "shards" / f"{name}.tsv" for name in plan().shards]


def shard_inputs(wildcards):
    pairs = plan().shard_pairs(wildcards.shard)
    contents = sorted({p["content"] for p in pairs})
    caches = sorted({cache for p in pairs for _, cache, _ in p["styles"]})
    return {"weights": WEIGHTS_FILE, "contents": contents, "style_targets": caches}


def style_image(wildcards):
    return plan().styles[wildcards.style]
