# Input validation: runs before any pair job; bad files are listed, not fatal.


checkpoint validate_inputs:
    input:
        # Broken links and names that are not UTF-8 cannot be inputs; they reach the
        # script through params (which it rejects).
        [
            str(p)
            for files in CANDIDATES.values()
            for p in files
            if p.exists() and is_utf8(str(p))
        ],
    output:
        accepted=RESULTS / "inputs" / "accepted.tsv",
        rejected=RESULTS / "inputs" / "rejected.tsv",
    log:
        LOGS / "validate_inputs.log",
    localrule: True
    conda:
        "../envs/nst.yaml"
    threads: 4
    params:
        files={role: [str(p) for p in files] for role, files in CANDIDATES.items()},
        size=SETTINGS.smallest_size,
        min_side=config["min_input_side"],
        max_megapixels=config["max_input_megapixels"],
        strict=config["strict"],
        cache=RESULTS / "inputs" / ".validation-cache.json",
    script:
        "../../scripts/validate_inputs.py"
