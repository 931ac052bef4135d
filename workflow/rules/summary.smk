# The summary table: one row per pair, assembled from the shard manifests; the pairs
# that failed are also listed, with their messages, in failed.tsv.
from nst.tsv import read_rows


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


# A run that ends with failed pairs still succeeds (exit status 0: the summary and the
# gallery are complete and show them); it says so last, where the user looks.
onsuccess:
    failed = 0
    if (RESULTS / "failed.tsv").is_file():
        failed = len(read_rows(RESULTS / "failed.tsv"))
    if failed > 0:
        logger.warning(
            f"{failed} pair(s) failed: {RESULTS / 'failed.tsv'} says why and what to do "
            "(also the summary's status and message columns, and the gallery's failed pairs)"
        )
