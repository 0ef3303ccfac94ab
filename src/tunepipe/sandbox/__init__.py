"""Run untrusted Python programs (ABD/DED answers written by a model) safely and fast.

    >>> r = run("print(int(input()) * 2)", "21\\n", timeout_s=5, memory_mb=256)
    >>> (r.stdout, r.returncode, r.killed_reason)
    ('42\\n', 0, None)

``run_many(jobs)`` runs a batch on all cores (one thread per worker drives one program at
a time). Every program is treated as hostile. ``python -m tunepipe.sandbox`` prints what
holds on this host (same as :func:`capabilities`); ``benchmarks/sandbox_throughput.py``
measures programs per second against ``subprocess.run([python, -c, code])``, one at a time
and on a thread pool with a thread per core.

How it works, and why it is fast
--------------------------------
Starting an interpreter costs 20-40 ms; forking one that is already running costs ~1 ms.
So the first call starts a *zygote*: :mod:`.server` run as a script (``python -s
sandbox/server.py --zygote``, by the interpreter that will run the programs: one zygote per
interpreter and hash seed) with a stripped environment. It enters a new network namespace and
a private mount namespace in which the caller's working directory (the repository),
its home, /root and /home are covered by empty read-only tmpfs (the interpreter's own
directories are bound back read-only) and every other mount is made read-only; it imports
common stdlib modules, creates cgroups, and forks one *slot runner* per concurrent
worker. Per program, ONE fork::

    slot runner S  (root, trusted, long-lived, already inside the slot's cgroups)
      unshare(CLONE_NEWPID); fork; setns(back)          -> the child is pid 1 of a new
      └─ U  new mount + IPC namespaces, a private tmpfs   pid namespace
            on every world-writable dir (/tmp/sandbox is
            the fresh work dir), private /proc; then setsid, rlimits, unprivileged
            per-slot uid, no_new_privs, pipes as stdin/stdout/stderr, and
            exec(compile(code)) as __main__

S enforces the wall clock and the parent's kill requests (output overflow) by SIGKILLing
U. U is the init of its pid namespace: when it dies, the kernel kills every process in
the namespace -- double-forked, ``setsid``-ed daemons included -- and reaps them before
S's wait4 returns; the namespace's tmpfs mounts (work dir included) and SysV IPC objects
are freed with it. The calling process only passes pipes to S (SCM_RIGHTS), feeds stdin
and reads stdout/stderr incrementally up to the cap.

Protections and where they hold
-------------------------------
=====================  ================================  ==============================  ==========================
protection             Linux, root (this project's       Linux, non-root with user       fallback: no namespaces
                       machines, CI; tested)             namespaces (not tested here)    (macOS, locked-down Linux;
                                                                                         tested on Linux as root
                                                                                         with ``configure``)
=====================  ================================  ==============================  ==========================
wall-clock timeout     SIGKILL of the pid-ns init        same                            SIGKILL + sweep (below)
nothing survives       pid namespace teardown            pid namespace teardown          root: ``kill(-1)`` as the
                                                                                         slot uid; else killpg +
                                                                                         subreaper sweep (best
                                                                                         effort; none on macOS)
fork bomb              RLIMIT_NPROC on a per-slot uid    RLIMIT_NPROC (per user); pids   RLIMIT_NPROC (non-root: for
                       (root ignores NPROC, so we        cgroup only if writable         all the user's processes)
                       switch uid) + pids cgroup
memory                 RLIMIT_AS per process + memory    RLIMIT_AS per process           RLIMIT_AS (macOS: may be
                       cgroup over the whole run                                         refused; then none)
CPU, file size, fds    RLIMIT_CPU (SIGKILL at the limit), RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE=0 -- everywhere
output                 parent reads incrementally, kills at ``max_output_bytes`` -- everywhere
writes outside the     read-only mounts everywhere but   same (the user's own files are  root: the uid's files in
work dir               the per-run tmpfs on world-       read-only too)                  world-writable dirs are
                       writable dirs                                                     deleted afterwards; else
                                                                                         NOT contained
fresh work dir         /tmp/sandbox on the per-run tmpfs same                            mkdtemp, removed afterwards
secrets in the env     the zygote starts with a stripped environment, so ``os.environ`` and
                       ``/proc/self/environ`` only show CLEAN_ENV -- everywhere
secrets in files       repository, caller's home, /root  same                            root: only 0700 dirs hidden
                       and /home hidden (empty)                                          (uid switch); else NOT
                                                                                         contained
other processes        private /proc: only the run's     private /proc                   root: other uid, so no
                       own; signals to others: EPERM                                     environ/signals; non-root:
                                                                                         NOT contained
network                new network namespace (only a     same                            ``socket`` monkeypatched
                       loopback, down)                                                   in process (bypassable
                                                                                         with ctypes)
privileges             uid != 0 (no capabilities) and    capabilities dropped +          PR_SET_NO_NEW_PRIVS (Linux)
                       PR_SET_NO_NEW_PRIVS               PR_SET_NO_NEW_PRIVS
=====================  ================================  ==============================  ==========================

Windows is not supported (:class:`SandboxError`). As root, the sandbox refuses to start
if it cannot switch programs to an unprivileged uid.

Known limits, honestly: this is not a seccomp filter or a VM -- a kernel exploit escapes.
Files outside the hidden directories stay readable where "other" may read them (the
interpreter, /etc; nothing secret should be world-readable there). Concurrent runs share
one network namespace (abstract unix sockets could link two concurrent runs). Programs
are forks of the zygote, so one could find earlier programs' source or stdin in freed
memory (expected outputs and tests never reach the zygote). Each zygote uses its own uid
range (``uid_range``).

Which interpreter, and differences from ``python main.py``
--------------------------------------------------------
``run(..., python=...)`` picks the interpreter (default: this process's, e.g. the venv's);
its site-packages are importable (numpy, pandas where installed), the user site is not
(``-s``). ``hash_seed=None`` leaves hash randomisation on: each zygote draws its own
secret at start, like every interpreter the Affine validators start; an int pins
``PYTHONHASHSEED``. Runs forked from one zygote share its secret (a fresh secret per run
would need a fresh interpreter per run, the start-up this design avoids): two runs of a
program whose output follows the order of a set of strings agree within one process (and
one interpreter and seed), and differ across processes, as they would between two
validator runs. ``sys.argv == ['main.py']``, ``sys.path[0]`` is the work dir. On an
interpreter older than 3.12 the compile-time warning for an invalid escape sequence
(``'\\d'``) is printed as 3.12's SyntaxWarning (older versions hide a DeprecationWarning).
Output streams are capped (see :func:`run`); :class:`Result` has the raw bytes, for
callers that decode them as the validators do (:mod:`tunepipe.tasks.code.executor`).
The program is pid 1 of its namespace (``os.getppid() == 0``), so a signal
it sends itself, or a timer signal (``signal.alarm``) it has no handler for, is ignored
instead of killing it; faults (SIGSEGV...) and the limits' SIGKILL are not.

Modules, by layer
-----------------
:mod:`.client` (the parent side: :func:`run`, the zygote client), :mod:`.constants`
(limits and :data:`~.constants.CLEAN_ENV`, both sides), and, run by the zygote (stdlib
only, any CPython >= 3.9): :mod:`.server` (the zygote and its slot runners),
:mod:`.program` (the run's process, then the program), :mod:`.syscalls` (libc and
namespace calls), :mod:`.fs` (mounts, hidden and world-writable directories),
:mod:`.cgroups`.
"""
from __future__ import annotations

from .client import (Result, SandboxError, capabilities, configure, cores,  # noqa: F401
                     interpreter, run, run_many, shutdown)
from .program import _block_sockets  # noqa: F401 (the fallback's network block; tests)

__all__ = ["Result", "SandboxError", "run", "run_many", "capabilities", "shutdown"]
