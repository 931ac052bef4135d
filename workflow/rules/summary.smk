# The summary table: one row per pair, assembled from the shard manifests; the pairs
# that failed are also listed, with their messages, in failed.tsv.


rule summary:
    input:
        shard_manifests,
    output:
        summary=RESULTS / "summary.tsv",
        failed=RESULTS / "failed.tsv",
    log:
        LOGS / "summary.log",
    localrule: True
    conda:
        "../envs/nst.yaml"
    script:
        "../../scripts/summarize.py"
