# Shared set-up: the backbone, the resolved settings, and the plan of pairs and shards.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))

from nst.catalog import NETWORKS, resolve_backbone
from nst import preflight, resources
from nst.gpus import visible_gpus
from nst.io import listing_signature, write_json
from nst.keys import key_book_path
from nst.missing import mark_out_of_date, missing_results
from nst.pairs import SheetError, read_sheet
from nst.plan import (
    candidates,
    manifest_path,
    read_index,
    shard_plan_path,
    style_cache_path,
    style_set_path,
)
from nst.settings import PairSettings
from nst.style_settings import read_style_settings
from nst.variants import (
    VariantError,
    check_contents,
    to_params as variants_to_params,
    variants_from_config,
)
from nst.weights import WeightsError

RESULTS = Path(config["results"])
LOGS = Path("logs")

try:
    BACKBONE = resolve_backbone(config["backbone"], config["weights"])
except (WeightsError, KeyError) as err:
    raise WorkflowError(str(err)) from None

# What changes an image (params of the pair jobs) and what changes a style cache.
SETTINGS = PairSettings.from_config(config, BACKBONE.network, BACKBONE.file.name)
PAIR_PARAMS = SETTINGS.to_params()
STYLE_PARAMS = SETTINGS.style_targets().to_params()
WEIGHTS_FILE = str(BACKBONE.file)


def _downloads():
    """resources/weights/ file name -> where the download rule gets it (torchvision's
    files; the others ship in Python packages)."""
    out = {}
    for net in NETWORKS.values():
        own = config["weights"].get(net.backbone, {})
        if own.get("source", net.source) != net.source or own.get("file"):
            continue
        url = own.get("url") or net.weights_url
        if url:
            out[net.default_file().name] = {"url": url, "sha256": own.get("sha256", "")}
    return out


DOWNLOADS = _downloads()


# ---- Where jobs run, and what they ask for ---------------------------------------
# On a cluster: Snakemake submits jobs (--jobs with --executor slurm sets
# workflow.nodes), or this process is such a job (remote mode).  The two must agree
# on every job's resources, so nothing below depends on the GPUs of the login node.
ON_CLUSTER = workflow.remote_exec or bool(workflow.nodes)
LOCAL_GPUS = visible_gpus(config["device"])


def _gpus_per_job():
    """GPUs each pair and style job asks for (config gpus_per_job; device cpu: none)."""
    if config["device"] == "cpu":
        return 0
    if config["gpus_per_job"] == "auto":
        return 1 if ON_CLUSTER or LOCAL_GPUS else 0
    return int(config["gpus_per_job"])


GPU_PER_JOB = _gpus_per_job()

# Settings that cannot work stop the run here, before any job (nst.preflight), where
# it is planned: a cluster job runs what that planning allowed.
if not workflow.remote_exec:
    try:
        preflight.check(
            config,
            SETTINGS,
            BACKBONE.file,
            GPU_PER_JOB,
            None if ON_CLUSTER else preflight.local_memory_mb(),
        )
    except preflight.SettingsError as err:
        raise WorkflowError(str(err)) from None

# Workstation: as many GPU jobs at once as there are GPUs (each job then picks its own,
# scripts/nst/gpus.py), unless --resources gpu=N says otherwise.  profiles/default
# leaves `gpu` out for this; profiles/slurm sets gpu=1 per submission.
if not ON_CLUSTER and LOCAL_GPUS and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", LOCAL_GPUS)

# Threads of a pair job: 2 beside a GPU (the GPU does the work); on CPU all the cores
# Snakemake may use on a workstation (pair jobs then run one at a time), and
# CLUSTER_CPU_THREADS per job on a cluster (--set-threads stylize_shard=N changes it).
CLUSTER_CPU_THREADS = 8
if GPU_PER_JOB:
    PAIR_THREADS = 2
elif ON_CLUSTER:
    PAIR_THREADS = CLUSTER_CPU_THREADS
else:
    PAIR_THREADS = workflow.cores


# Pairs per job: shard_size, or (auto) as many as fill job_minutes at the expected speed
# of the job's device.  It depends only on the config and where jobs run, so the
# workflow and every cluster job it submits compute the same shards.
def _shard_size():
    if config["shard_size"] != "auto":
        return int(config["shard_size"])
    speed = config["seconds_per_megapixel_step"] or (
        resources.expected_seconds_per_megapixel_step(GPU_PER_JOB, PAIR_THREADS)
    )
    return resources.pairs_per_job(
        config["job_minutes"], resources.pair_work(SETTINGS, expected=True), speed
    )


SHARD_SIZE = _shard_size()


# Memory and time limits: the pure functions of scripts/nst/resources.py.
def pair_mem_mb(wildcards, attempt):
    return resources.pair_mem_mb(
        GPU_PER_JOB, SETTINGS.size, config["batch_size"], attempt, SETTINGS.highres
    )


def pair_runtime(wildcards, threads, attempt):
    work = sum(
        pairs * resources.pair_work(SETTINGS, steps)
        for steps, pairs in plan_index().shards[wildcards.shard].steps
    )
    return resources.pair_runtime_minutes(work, GPU_PER_JOB, threads, attempt)


def pair_max_batch(wildcards, attempt):
    return resources.max_batch(config["batch_size"], attempt)


def style_mem_mb(wildcards, attempt):
    return resources.style_mem_mb(GPU_PER_JOB, max(SETTINGS.style_sizes), attempt)


def style_runtime(wildcards, attempt):
    return resources.style_runtime_minutes(attempt)


# The input folders, listed where the run is planned; a cluster job runs its one shard
# and needs neither the listing nor validation's inputs (whatever the collection size).
CANDIDATES = {"content": [], "style": []}
MASK_LISTING = ""  # the sheet's masks' names, sizes and dates
if not workflow.remote_exec:
    try:
        CANDIDATES = candidates(config)
    except FileNotFoundError as err:
        raise WorkflowError(
            f"{err}; set content_dir and style_dir in config.yaml"
        ) from None
    except OSError as err:  # e.g. a folder without read permission
        raise WorkflowError(f"cannot list an input folder: {err}") from None
    for role, files in CANDIDATES.items():
        if not files:
            raise WorkflowError(
                f"the {role} folder {config[f'{role}_dir']} is empty; "
                f"put {role} images there or point {role}_dir in config.yaml elsewhere"
            )
    # A bad pairs sheet stops the run before any job, with every bad row named.
    if config["pairs"]:
        try:
            SHEET = read_sheet(
                config["pairs"],
                *(Path(config[k]) for k in ("content_dir", "style_dir", "mask_dir")),
            )
        except SheetError as err:
            raise WorkflowError(str(err)) from None
        masks = sorted({str(spec.mask) for spec in SHEET if spec.mask})
        MASK_LISTING = listing_signature(masks) if masks else ""
    if config["style_settings"]:
        try:
            read_style_settings(config["style_settings"], Path(config["style_dir"]))
        except SheetError as err:
            raise WorkflowError(str(err)) from None

# Variants (nst.variants): each a set of per-pair settings with its own results folder.
try:
    VARIANT_LIST = variants_from_config(config)
    if not workflow.remote_exec:
        check_contents(VARIANT_LIST, {Path(p).name for p in CANDIDATES["content"]})
except VariantError as err:
    raise WorkflowError(str(err)) from None
VARIANTS = {variant.name: dict(variant.changes) for variant in VARIANT_LIST}

_indexes = {}


def plan_index():
    """The shards and styles of the plan (nst.plan), after the plan_shards checkpoint.
    A cluster job reads the plan its main process made, without depending on the
    checkpoint: that would put validation back into its DAG, whose inputs a cluster
    job does not list (it would look changed, and run again)."""
    if workflow.remote_exec:
        index_file = rules.plan_shards.output.index
    else:
        index_file = checkpoints.plan_shards.get().output.index
    stamp = Path(index_file).stat().st_mtime_ns
    if stamp not in _indexes:
        index = _indexes[stamp] = read_index(index_file)
        # Only where the run is planned: a cluster job runs its one shard, and neither
        # needs the scan of every output folder nor may re-date other shards' manifests.
        if not workflow.remote_exec:
            _check_results(index)
    return _indexes[stamp]


def _check_results(index):
    """Rerun the shards whose finished results were deleted; warn of skipped rows."""
    gone = missing_results(RESULTS)
    if gone:
        keys = [key for keys in gone.values() for key in keys]
        logger.warning(
            f"{len(keys)} result(s) listed as done lack their image or record (deleted "
            f"by hand?): {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}; "
            f"their {len(gone)} shard(s) run again and make only what is missing"
        )
        mark_out_of_date(RESULTS, gone)
    if index.skipped:
        logger.warning(
            f"{len(index.skipped)} row(s) of {config['pairs']} skipped: they name a file "
            f"listed in {RESULTS / 'inputs' / 'rejected.tsv'} "
            f"({', '.join(index.skipped[:5])}{', ...' if len(index.skipped) > 5 else ''})"
        )


def shard_manifests(wildcards):
    return [manifest_path(RESULTS, name) for name in plan_index().shards]


def shard_inputs(wildcards):
    return {
        "weights": WEIGHTS_FILE,
        "plan": shard_plan_path(RESULTS, wildcards.shard),
        "style_set": style_set_path(
            RESULTS, plan_index().shards[wildcards.shard].style_set
        ),
    }


def style_set_caches(wildcards):
    return plan_index().style_sets[wildcards.style_set]


def style_image(wildcards):
    return plan_index().styles[wildcards.style]
