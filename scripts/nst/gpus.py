"""GPUs without importing torch: counting them (the workflow does this at every parse)
and giving each concurrent job on a multi-GPU machine its own.

Snakemake's `gpu` resource caps how many GPU jobs run at once, but it does not say
which GPU a local job should use (snakemake/snakemake#281): without help every job
would start on GPU 0.  `claim_gpu` picks one: it takes an exclusive `flock` on one of
N slot files (one per GPU) in a lock folder shared by every job on the machine, and
points CUDA_VISIBLE_DEVICES at that GPU before torch initialises CUDA.  The kernel
drops the lock when the process ends, however it ends, so a killed job never leaves
its GPU taken.  Inside a SLURM job nothing is changed: SLURM has already assigned
the job its GPUs.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")
LOCK_DIR_ENV = "NST_GPU_LOCK_DIR"
_held: list[GpuClaim] = []  # claims live until release() or the end of the process


def gpu_ids(device: str = "auto", environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs jobs may use, as CUDA_VISIBLE_DEVICES names them: none for device cpu,
    else the entries of CUDA_VISIBLE_DEVICES (indices or UUIDs), else one index per GPU
    the NVIDIA driver lists."""
    env = os.environ if environ is None else environ
    if device == "cpu":
        return []
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = []
        for entry in (d.strip() for d in visible.split(",")):
            if entry in ("", "-1") or entry.lower() == "nodevfiles":
                break  # CUDA ignores everything after an invalid entry
            ids.append(entry)
        return ids
    count = len(list(NVIDIA_PROC.glob("*"))) if NVIDIA_PROC.is_dir() else 0
    return [str(i) for i in range(count)]


def visible_gpus(device: str = "auto", environ: Mapping[str, str] | None = None) -> int:
    """How many GPUs jobs may use (see gpu_ids)."""
    return len(gpu_ids(device, environ))


def in_slurm_job(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("SLURM_JOB_ID"))


def default_lock_dir() -> Path:
    """Where the slot files live: $NST_GPU_LOCK_DIR, else one folder in the system's
    temporary directory, shared by every workflow and user on the machine."""
    own = os.environ.get(LOCK_DIR_ENV)
    return Path(own) if own else Path(tempfile.gettempdir()) / "nst-gpu-slots"


@dataclass
class GpuClaim:
    """A GPU held by this process until release() or until the process ends."""

    gpu: str  # the CUDA_VISIBLE_DEVICES entry now in force
    slot_file: Path
    waited: float  # seconds spent waiting for a free GPU
    _handle: IO | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
        if self in _held:
            _held.remove(self)


def _slot_name(gpu: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", gpu) + ".lock"


def _open_slot(path: Path) -> IO:
    # 0o666 so that another user's jobs can lock the same file (the folder is shared).
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    return os.fdopen(fd, "r+")


def claim_gpu(
    device: str = "auto",
    lock_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    poll: float = 0.5,
    timeout: float | None = None,
) -> GpuClaim | None:
    """Hold one GPU for this job and make it the only one CUDA shows this process.

    Returns None (and changes nothing) when there is nothing to choose: device cpu or
    a fixed cuda:N, no GPU, or a SLURM job (SLURM has set CUDA_VISIBLE_DEVICES).  When
    every GPU is held by another job it waits, polling every `poll` seconds, for at most
    `timeout` seconds (None: as long as it takes), then raises TimeoutError.  Must run
    before torch initialises CUDA (CUDA reads CUDA_VISIBLE_DEVICES only then).
    """
    if device not in ("auto", "cuda"):
        return None  # cpu, or the user named a device: leave the numbering alone
    if in_slurm_job():
        env = os.environ
        log(
            f"SLURM job {env['SLURM_JOB_ID']} on {env.get('SLURMD_NODENAME', '?')}: GPUs as "
            f"SLURM assigned them (CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '')})"
        )
        return None
    if _held:
        return _held[0]  # this process already has its GPU
    ids = gpu_ids(device)
    if not ids:
        return None
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("claim_gpu() must run before torch initialises CUDA")
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            folder.chmod(0o1777)  # shared by all users, like /tmp
        except PermissionError:
            pass  # someone else's folder: its mode is theirs to set
        handles = [(gpu, folder / _slot_name(gpu)) for gpu in ids]
    except OSError as err:
        log(f"cannot use the GPU lock folder {folder} ({err}); not choosing a GPU")
        return None
    started = time.monotonic()
    said_waiting = False
    while True:
        for gpu, path in handles:
            handle = _open_slot(path)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
            waited = time.monotonic() - started
            log(
                f"GPU {gpu} of {len(ids)} claimed (CUDA_VISIBLE_DEVICES={gpu}, "
                f"lock {path}{f', after {waited:.0f} s waiting' if said_waiting else ''})"
            )
            claim = GpuClaim(gpu, path, waited, handle)
            _held.append(claim)  # the lock must outlive a caller that drops the result
            return claim
        waited = time.monotonic() - started
        if timeout is not None and waited >= timeout:
            raise TimeoutError(f"all {len(ids)} GPUs stayed busy for {waited:.0f} s ({folder})")
        if not said_waiting:
            log(f"all {len(ids)} GPUs are held by other jobs (locks in {folder}); waiting")
            said_waiting = True
        time.sleep(poll)
