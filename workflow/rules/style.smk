# Style targets: each style image's Gram matrices, computed once and shared by
# every pair that uses the style.


rule style_targets:
    input:
        style=style_image,
        weights=WEIGHTS_FILE,
    output:
        RESULTS / "cache" / "style_targets" / "{style}.safetensors",
    params:
        settings=STYLE_SETTINGS,
    log:
        LOGS / "style_targets" / "{style}.log",
    wildcard_constraints:
        style="[^/]+",
    resources:
        gpu=GPU_PER_JOB,
    script:
        "../../scripts/style_targets.py"
