"""Snakemake script: list the results no current pair owns, and with params.delete
delete them (nst.prune)."""

from nst.keys import KeyBook
from nst.prune import forget_gone_names, remove, size_of, unowned
from nst.runtime import job_log

sm = snakemake  # noqa: F821  (provided by Snakemake)
p = sm.params
SHOWN = 20  # paths printed; the log lists all

with job_log(sm.log[0]) as log:
    found = unowned(p.results)
    megabytes = size_of(found) / 1e6
    for path in found:
        log(path)
    if p.delete:
        removed = remove(found, p.results)
        book = KeyBook.load(p.key_book)
        forgotten = forget_gone_names(book, str(p.results), p.files)
        book.save(p.key_book)
        print(f"prune: removed {removed} file(s) ({megabytes:.1f} MB) no current pair owned")
        log(f"removed {removed} file(s); forgot the keys of {forgotten} name(s) that are gone")
    else:
        shown = "".join(f"\n  {path}" for path in found[:SHOWN])
        more = f"\n  ... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        print(
            f"prune: {len(found)} file(s) ({megabytes:.1f} MB) no current pair owns"
            f"{shown}{more}\n(all in {sm.log[0]})"
            + ("; `snakemake prune_remove --cores 1` removes them" if found else "")
        )
