"""One pair job: a shard of content x style pairs, run with one loaded model.

For every pair the job first checks its record: a pair whose image exists and
was made from the same inputs and settings (same fingerprint) is kept as it is,
so a rerun after a crash or after adding photos only does the missing work, and a
changed setting redoes exactly the pairs it affects (tasks.py).  Pending pairs of
the same size are optimised together in batches (nst.batches, runner.py), through
their stages (batch.py: nst.stylize.stylize); each pair is then finished (finish.py:
colour, score, image and record, nst.results).

Whatever goes wrong with one pair (an unreadable file, the colour step, the score,
writing its files, a bug) ends that pair as a `failed` row whose message says what
happened and what to do; the other pairs go on (failures.py, errors.py).  Only what
no pair can be isolated from ends the job (JobError): a network that cannot load, a
full disk, memory too small for a single image.
"""

from .errors import JobError
from .runner import ShardReport, ShardRunner

__all__ = ["JobError", "ShardReport", "ShardRunner"]
