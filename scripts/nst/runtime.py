"""Per-job plumbing: the job log, the device, threads and batch size."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def job_log(path: str | os.PathLike) -> Iterator[Callable[[str], None]]:
    """Log lines (timestamped, flushed) to the job's log file; log any error, re-raise it.

    The error's first line also goes to stderr, so Snakemake's own output says
    what went wrong, not only that the job failed.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"nst.{path}")
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    try:
        yield logger.info
    except Exception as err:
        logger.exception("failed: %s", err)
        print(f"error: {err} (log: {path})", file=sys.stderr)
        raise
    finally:
        handler.close()
        logger.removeHandler(handler)


def pick_device(requested: str) -> str:
    """The device to compute on; on CUDA also turns on cuDNN's autotuner (a job's
    images keep their shapes for hundreds of steps, so the search pays off at once)."""
    import torch  # imported here: log-only scripts need not load torch

    device = requested
    if requested == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device: {requested} was asked for, but CUDA is not available here")
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    return device


def set_threads(threads: int) -> None:
    """Use the cores Snakemake gave the job (never more than the machine has)."""
    import torch

    torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))


def pick_batch_size(requested: int | str, device: str, pixels: int) -> int:
    """Images per forward/backward: 1 on CPU (batching gains nothing there); on a GPU
    as many as fit in about half of the free memory (measured ~6 kB per pixel for VGG19
    with L-BFGS history 50)."""
    if requested != "auto":
        return int(requested)
    if not device.startswith("cuda"):
        return 1
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return max(1, min(16, int(0.5 * free / (6e3 * pixels))))


def tune_allocator() -> bool:
    """Stop glibc from returning large freed buffers to the OS after every step.

    A step allocates and frees the same large activation buffers each time; by
    default glibc serves each with a fresh mmap (and page faults), which cost
    about a quarter of the step time at 512 px.  With mmap off and trimming
    raised, freed buffers are reused.  Returns False where this is not glibc.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def resolve_precision(requested: str, device: str, auto_bf16: bool) -> str:
    """fp32 or bf16.  `auto` is bf16 for networks whose catalog entry allows it
    (`Network.auto_bf16`) on devices that compute in bf16 natively (CUDA with bf16,
    CPUs with AVX512-BF16 or AMX), else fp32."""
    if requested != "auto":
        return requested
    if not auto_bf16:
        return "fp32"
    import torch

    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if (" avx512_bf16" in flags or " amx_bf16" in flags) else "fp32"
