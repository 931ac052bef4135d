# The summary table: one row per pair, assembled from the shard manifests.


rule summary:
    input:
        shard_manifests,
    output:
        RESULTS / "summary.tsv",
    log:
        LOGS / "summary.log",
    localrule: True
    conda:
        "../envs/nst.yaml"
    script:
        "../../scripts/summarize.py"
