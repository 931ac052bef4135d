"""Snakemake script: build the result gallery (pages, thumbnails, plots, contact sheets)."""

from pathlib import Path

from nst.gallery import Layout, Options, RunTables, build_gallery
from nst.runtime import job_log

sm = snakemake  # noqa: F821  (provided by Snakemake)
p = sm.params

with job_log(sm.log[0]) as log:
    layout = Layout(
        index=Path(sm.output.index),
        summary=Path(sm.output.summary),
        overview=Path(sm.output.overview),
        style_plots=Path(sm.output.style_plots),
        sheets=Path(sm.output.sheets),
    )
    options = Options(
        thumb_size=p.thumb_size,
        thumb_format=p.thumb_format,
        thumb_quality=p.thumb_quality,
        rows_per_page=p.rows_per_page,
        styles_per_page=p.styles_per_page,
        workers=sm.threads,
    )
    run = RunTables(failed=sm.input.failed, rejected=sm.input.rejected, masks=p.mask_dir)
    build_gallery(
        sm.input.summary,
        sm.input.accepted,
        p.results,
        layout,
        options,
        log=log,
        run=run,
        variants=p.variants,
    )
