"""Result galleries: browsable HTML pages, loss plots and contact sheets.

Built from the workflow's outputs only (summary.tsv, the stylised images, the
records), never by running an optimisation.  See build.py for the folder layout,
cache.py for how thumbnails and loss curves are kept between builds, and html.py
for the pages and their pagination.
"""

from .build import BuildReport, GalleryError, Layout, Options, RunTables, build_gallery

__all__ = ["BuildReport", "GalleryError", "Layout", "Options", "RunTables", "build_gallery"]
