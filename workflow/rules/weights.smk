# Backbone weights: downloaded once, on the machine that runs Snakemake, into
# resources/weights/ (cluster jobs only read them).


rule fetch_weights:
    """`snakemake fetch_weights --cores 1`: get the configured network's weights while
    online (a no-op for weights that ship in a Python package, such as the default)."""
    input:
        WEIGHTS_FILE,
    localrule: True


rule download_weights:
    output:
        "resources/weights/{filename}",
    log:
        LOGS / "download_weights" / "{filename}.log",
    wildcard_constraints:
        filename="|".join(re.escape(name) for name in DOWNLOADS),
    localrule: True
    conda:
        "../envs/nst.yaml"
    params:
        url=lambda wildcards: DOWNLOADS[wildcards.filename]["url"],
        sha256=lambda wildcards: DOWNLOADS[wildcards.filename]["sha256"],
    script:
        "../../scripts/fetch_weights.py"
