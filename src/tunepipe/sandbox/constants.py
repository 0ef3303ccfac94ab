"""Limits and settings shared by both sides of the sandbox: the parent (:mod:`.client`)
and the zygote (:mod:`.server`, any CPython >= 3.9: stdlib only)."""
from __future__ import annotations

import struct

MAX_SLOTS = 64          # most programs running at once in one process
MAX_PROCS = 64          # RLIMIT_NPROC and pids.max: processes + threads per run
MAX_OPEN_FILES = 64     # RLIMIT_NOFILE
FILE_SIZE_MB = 32       # RLIMIT_FSIZE
TMPFS_MB = 64           # the run's private /tmp (other world-writable dirs get 8 MiB)
CGROUP_SLACK_MB = 128   # memory cgroup limit of a run = memory_mb + this
ZYGOTE_START_TIMEOUT_S = 60.0

#: The only environment a sandboxed program sees (plus ``PYTHONHASHSEED`` when a run pins
#: ``hash_seed``). One BLAS/OpenMP thread: a numpy program must not fail on the per-run
#: process limit because its BLAS starts a thread per core of a big machine.
CLEAN_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "HOME": "/tmp",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

#: Imported by the zygote before forking, so programs get them for free.
PRELOAD = (
    "math", "cmath", "collections", "itertools", "functools", "heapq", "bisect", "re",
    "string", "operator", "array", "copy", "fractions", "decimal", "statistics", "random",
    "datetime", "typing", "io", "traceback", "atexit", "linecache", "errno", "types",
    "ctypes", "resource", "shutil", "tempfile",
)

_HDR = struct.Struct("!I")
