# Results no current pair owns (nst.prune), such as those of a deleted photo:
# `snakemake prune --cores 1` lists them, `snakemake prune_remove --cores 1` deletes
# them.  Both plan first (the plan says what is current); neither runs a pair job.


rule prune:
    input:
        rules.plan_shards.output.index,
    log:
        LOGS / "prune.log",
    localrule: True
    conda:
        "../envs/nst.yaml"
    params:
        results=RESULTS,
        delete=False,
    script:
        "../../scripts/prune.py"


use rule prune as prune_remove with:
    log:
        LOGS / "prune_remove.log",
    params:
        results=RESULTS,
        delete=True,
        key_book=key_book_path(RESULTS),
        files=CANDIDATES,
