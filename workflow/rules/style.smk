# Style targets: each style image's Gram matrices, computed once and shared by
# every pair that uses the style.


rule style_targets:
    input:
        style=style_image,
        weights=WEIGHTS_FILE,
    output:
        style_cache_path(RESULTS, "{style}"),
    log:
        LOGS / "style_targets" / "{style}.log",
    wildcard_constraints:
        style="[^/]+",
    conda:
        "../envs/nst.yaml"
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=style_mem_mb,
        runtime=style_runtime,
    params:
        settings=STYLE_PARAMS,
    script:
        "../../scripts/style_targets.py"


# The style caches of a shard as one file (nst.plan.style_set_path): each pair job
# depends on it instead of on every cache, which keeps planning a million pairs fast.
# Remade whenever one of its caches is, so the shards that use them rerun.
rule style_set:
    input:
        style_set_caches,
    output:
        style_set_path(RESULTS, "{style_set}"),
    log:
        LOGS / "style_sets" / "{style_set}.log",
    wildcard_constraints:
        style_set="[0-9a-f]{16}",
    localrule: True
    run:
        write_json(output[0], sorted(input))
        Path(log[0]).write_text(f"{len(input)} style target file(s)\n")
