# Style targets: each style image's Gram matrices, computed once and shared by
# every pair that uses the style.


rule style_targets:
    input:
        style=style_image,
        weights=WEIGHTS_FILE,
    output:
        RESULTS / "cache" / "style_targets" / "{style}.safetensors",
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
