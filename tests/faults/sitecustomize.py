"""Fault injection for tests/test_last_steps.py, loaded by every Python process that
runs with this folder on PYTHONPATH (Snakemake and the jobs it starts).

When atomic_write fsyncs a temporary file of the final file named $NST_KILL_WRITING
(it is fully written, not yet renamed into place), the process is killed with
SIGKILL; with $NST_KILL_GROUP set, its whole process group (Snakemake too) is.
"""

import os
import signal

_TARGET = os.environ.get("NST_KILL_WRITING")

if _TARGET:
    _fsync = os.fsync

    def _killing_fsync(fd: int) -> None:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name.startswith(f".{_TARGET}.") and name.endswith(".part"):
            group = os.environ.get("NST_KILL_GROUP")
            if group:
                os.killpg(int(group), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        _fsync(fd)

    os.fsync = _killing_fsync
