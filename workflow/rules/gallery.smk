# The result gallery: HTML pages (content x style grid), thumbnails, loss plots and
# contact sheets, built from the summary table and the images; never optimises.
# `snakemake gallery`; thumbnails and loss curves are cached in results/gallery/assets/.

GALLERY = RESULTS / "gallery"


rule gallery:
    input:
        summary=RESULTS / "summary.tsv",
        failed=RESULTS / "failed.tsv",
        accepted=RESULTS / "inputs" / "accepted.tsv",
        rejected=RESULTS / "inputs" / "rejected.tsv",
    output:
        index=GALLERY / "index.html",
        summary=report(
            GALLERY / "summary.tsv",
            caption="../report/summary.rst",
            category="Summary",
        ),
        overview=report(
            GALLERY / "overview.png",
            caption="../report/overview.rst",
            category="Plots",
            subcategory="All styles",
        ),
        style_plots=report(
            directory(GALLERY / "style-plots"),
            patterns=["{style}.png"],
            caption="../report/style_plot.rst",
            category="Plots",
            subcategory="Per style",
            labels={"style": "{style}"},
        ),
        sheets=report(
            directory(GALLERY / "contact-sheets"),
            patterns=["{style}.png"],
            caption="../report/contact_sheet.rst",
            category="Contact sheets",
            labels={"style": "{style}"},
        ),
    log:
        LOGS / "gallery.log",
    localrule: True
    conda:
        "../envs/nst.yaml"
    threads: 4
    params:
        results=RESULTS,
        mask_dir=config["mask_dir"],
        thumb_size=config["gallery"]["thumbnail_size"],
        thumb_format=config["gallery"]["thumbnail_format"],
        thumb_quality=config["gallery"]["thumbnail_quality"],
        rows_per_page=config["gallery"]["contents_per_page"],
        styles_per_page=config["gallery"]["styles_per_page"],
        variants=VARIANTS,
    script:
        "../../scripts/gallery.py"
