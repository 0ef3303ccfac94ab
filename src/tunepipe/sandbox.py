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
So the first call starts a *zygote*: this file run as a script (``python -s sandbox.py
--zygote``, by the interpreter that will run the programs: one zygote per interpreter and
hash seed) with a stripped environment. It enters a new network namespace and
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
callers that decode them as the validators do (:mod:`tunepipe.tasks.codecorpus`).
The program is pid 1 of its namespace (``os.getppid() == 0``), so a signal
it sends itself, or a timer signal (``signal.alarm``) it has no handler for, is ignored
instead of killing it; faults (SIGSEGV...) and the limits' SIGKILL are not.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

__all__ = ["Result", "SandboxError", "run", "run_many", "capabilities", "shutdown"]

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

# Linux constants (identical on x86_64 and arm64).
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_RDONLY, MS_REMOUNT = 1, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 4, 36, 38

_HDR = struct.Struct("!I")


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not start, fork...), as opposed to the program."""


@dataclass
class Result:
    stdout: str                # decoded as UTF-8, invalid bytes replaced (see raw_stdout)
    stderr: str
    returncode: int | None     # exit code, or -signal when killed (subprocess convention)
    timed_out: bool
    killed_reason: str | None  # None | "timeout" | "cpu" | "memory" | "output" | "signal"
    wall_s: float
    raw_stdout: bytes = field(default=b"", repr=False)   # the bytes, up to the cap
    raw_stderr: bytes = field(default=b"", repr=False)
    stdout_truncated: bool = False   # the stream went past max_output_bytes (then killed)
    stderr_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.killed_reason is None


# =========================================================================== parent side


def run(code: str, stdin: str = "", *, timeout_s: float, memory_mb: int,
        cpu_s: float | None = None, max_output_bytes: int = 1_000_000,
        python: str | None = None, hash_seed: int | None = None) -> Result:
    """Run ``code`` as a Python 3 program fed ``stdin``. Never raises for anything the
    program does; raises :class:`SandboxError` only when the sandbox cannot work (and
    ValueError for invalid arguments).

    ``timeout_s``: wall clock. ``cpu_s``: CPU seconds per process (default ``timeout_s``).
    ``memory_mb``: address space per process (and, with a memory cgroup, resident memory
    of the whole run). stdout and stderr are each capped at ``max_output_bytes``; the
    program is killed (``killed_reason="output"``, ``stdout_truncated`` /
    ``stderr_truncated``) when one overflows, and what came before the cap is kept.
    ``python``: the interpreter (a path, or a command on PATH; CPython >= 3.9; default
    this process's ``sys.executable``), with its site-packages. ``hash_seed``: None =
    hash randomisation on (each zygote, one per process, interpreter and seed, draws its
    own secret at start; runs forked from it share it); an int pins ``PYTHONHASHSEED``."""
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError("timeout_s and memory_mb must be positive")
    if os.name != "posix" or not hasattr(socket, "send_fds"):
        raise SandboxError(f"the sandbox needs Linux or macOS (fork, SCM_RIGHTS), not {sys.platform}")
    key = _zygote_key(python, hash_seed)
    req = {"code": code, "timeout_s": float(timeout_s), "memory_mb": int(memory_mb),
           "cpu_s": float(cpu_s if cpu_s is not None else timeout_s)}
    try:
        stdin_b = stdin.encode("utf-8", "surrogateescape") if stdin else b""
    except UnicodeEncodeError:   # a lone surrogate outside U+DC80..U+DCFF: invalid UTF-8 as is
        stdin_b = stdin.encode("utf-8", "surrogatepass")
    for attempt in range(3):
        zyg = _get_zygote(key)
        slot = _SLOTS.get()
        leak = False
        try:
            res, leak = _run_once(zyg, slot, req, stdin_b, int(max_output_bytes))
            return res
        except _Gone:
            if attempt == 2:
                raise SandboxError("the sandbox zygote keeps dying") from None
        finally:
            if not leak:
                _SLOTS.put(slot)
    raise AssertionError("unreachable")


def run_many(jobs: list[dict], *, workers: int | None = None) -> list[Result]:
    """``[run(**job) for job in jobs]``, in parallel on ``workers`` threads (default: one
    per core); results in job order."""
    from concurrent.futures import ThreadPoolExecutor

    if not jobs:
        return []
    workers = max(1, min(workers or cores(), len(jobs), MAX_SLOTS))
    if workers == 1:
        return [run(**job) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda job: run(**job), jobs))


def cores() -> int:
    """CPU cores this process may use (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def configure(*, namespaces: bool = True) -> None:
    """Choose the isolation of the next zygotes (stops running ones).

    ``namespaces=False`` forces the portable fallback (no pid/mount/network namespaces:
    what macOS, or a Linux host without namespaces, gets), to test that path on Linux."""
    shutdown()
    _CONFIG["namespaces"] = bool(namespaces)


def capabilities(*, python: str | None = None, hash_seed: int | None = None) -> dict:
    """Which protections hold on this host (starts the zygote of ``python``/``hash_seed``
    if needed), and which interpreter runs the programs (``python``, ``python_version``)."""
    return dict(_get_zygote(_zygote_key(python, hash_seed)).caps)


def shutdown() -> None:
    """Stop the zygotes and their slot runners (also happens when this process exits)."""
    with _ZLOCK:
        for z in list(_ZYGOTES.values()):
            if z.owner == os.getpid():
                z.close()
        _ZYGOTES.clear()


def interpreter(python: str | None = None) -> str:
    """The absolute path of interpreter ``python`` (None: ``sys.executable``), not resolved
    through symlinks (a venv's ``bin/python`` must stay the venv's). ValueError when there
    is no such executable or it is not a CPython >= 3.9 (checked once per process)."""
    if python is None:
        return os.path.abspath(sys.executable)
    if not isinstance(python, str) or not python.strip():
        raise ValueError(f"python: expected an interpreter path or command, got {python!r}")
    found = _INTERPRETERS.get(python)
    if found is None:
        try:
            found = _find_interpreter(python)
        except ValueError as e:
            found = e
        _INTERPRETERS[python] = found
    if isinstance(found, ValueError):
        raise ValueError(str(found))
    return found


def _find_interpreter(python: str) -> str:
    import shutil
    import subprocess

    path = os.path.expanduser(python.strip())
    found = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
    if not found or os.path.isdir(found):
        raise ValueError(f"python: no executable interpreter {python!r}")
    found = os.path.abspath(found)
    want = b"tunepipe-cpython-ok\n"
    probe = ("import sys; print('tunepipe-cpython-ok' if sys.implementation.name == 'cpython' "
             "and sys.version_info >= (3, 9) else 'no')")
    try:   # read a few bytes at most: the executable may be anything
        p = subprocess.Popen([found, "-s", "-c", probe], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=dict(CLEAN_ENV), cwd="/", start_new_session=True)
    except OSError as e:
        raise ValueError(f"python: cannot run {python!r} ({e.strerror})") from None
    out = b""
    deadline = time.monotonic() + 30.0
    try:
        while len(out) < len(want) and time.monotonic() < deadline:
            if not select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break
            chunk = os.read(p.stdout.fileno(), len(want) - len(out))
            if not chunk:
                break
            out += chunk
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.stdout.close()
        p.wait()
    if out != want:
        raise ValueError(f"python: {python!r} is not a CPython >= 3.9 interpreter")
    return found


def _zygote_key(python: str | None, hash_seed: int | None) -> tuple[str, int | None]:
    if hash_seed is not None:
        if isinstance(hash_seed, bool) or not isinstance(hash_seed, int) \
                or not 0 <= hash_seed <= 4294967295:
            raise ValueError(f"hash_seed: expected null or an int in [0, 4294967295], got {hash_seed!r}")
    return interpreter(python), hash_seed


class _Gone(Exception):
    """The zygote or a slot runner died; retry with a fresh one."""


class _Slots:
    def __init__(self, n: int):
        self._free = list(range(n - 1, -1, -1))   # pop() hands out low slots first
        self._cv = threading.Condition()

    def get(self) -> int:
        with self._cv:
            while not self._free:
                self._cv.wait()
            return self._free.pop()

    def put(self, slot: int) -> None:
        with self._cv:
            self._free.append(slot)
            self._free.sort(reverse=True)
            self._cv.notify()


_SLOTS = _Slots(MAX_SLOTS)
_CONFIG = {"namespaces": True}
_ZLOCK = threading.Lock()
_ZYGOTES: "dict[tuple[str, int | None], _Zygote]" = {}   # (interpreter, hash_seed) -> zygote
_INTERPRETERS: dict = {}   # python argument -> absolute path (lookups are not free)


class _Zygote:
    def __init__(self, python: str, hash_seed: int | None):
        import subprocess

        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.slots: dict[int, socket.socket] = {}
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            cwd = os.getcwd()
        except OSError:   # deleted working directory
            cwd = ""
        private = [d for d in (cwd, os.path.expanduser("~")) if d and d != "~"]
        # site-packages on (programs may import numpy...), user site off (homes are hidden)
        cmd = [python, "-s", os.path.abspath(__file__), "--zygote",
               str(child.fileno()), json.dumps({"namespaces": _CONFIG["namespaces"],
                                                "private_dirs": private})]
        env = dict(CLEAN_ENV)
        if hash_seed is not None:
            env["PYTHONHASHSEED"] = str(hash_seed)
        try:
            self.proc = subprocess.Popen(
                cmd, pass_fds=(child.fileno(),), env=env, cwd="/",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
        finally:
            child.close()
        self.sock = parent
        self.alive = True
        line = _recv_line(parent, ZYGOTE_START_TIMEOUT_S)
        if not line:
            self.close()
            raise SandboxError(f"the sandbox zygote failed to start: {' '.join(cmd[:4])} "
                               "(CPython >= 3.9 on Linux or macOS is needed)")
        self.caps = json.loads(line)
        self.caps["hash_seed"] = hash_seed

    def slot_sock(self, slot: int) -> socket.socket:
        """The socket of slot ``slot``'s runner, forking one on first use."""
        s = self.slots.get(slot)
        if s is not None:
            return s
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                try:
                    _send_msg(self.sock, json.dumps({"slot": slot}).encode(), [theirs.fileno()])
                except OSError:
                    self.alive = False
                    raise _Gone() from None
        finally:
            theirs.close()
        if _recv_line(mine, ZYGOTE_START_TIMEOUT_S) != b"ready":
            mine.close()
            self.alive = False
            raise _Gone()
        self.slots[slot] = mine
        return mine

    def drop_slot(self, slot: int) -> None:
        s = self.slots.pop(slot, None)
        if s is not None:
            s.close()

    def close(self) -> None:
        self.alive = False
        for s in list(self.slots.values()) + [self.sock]:
            try:
                s.close()
            except OSError:
                pass
        self.slots.clear()
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def _recv_line(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    finally:
        sock.settimeout(None)
    return buf.rstrip(b"\n") if buf.endswith(b"\n") else b""


def _send_msg(sock: socket.socket, body: bytes, fds: list[int]) -> None:
    socket.send_fds(sock, [_HDR.pack(len(body))], fds)
    sock.sendall(body)


def _get_zygote(key: tuple[str, int | None]) -> _Zygote:
    z = _ZYGOTES.get(key)
    if z is not None and z.alive and z.owner == os.getpid():
        return z
    with _ZLOCK:
        z = _ZYGOTES.get(key)
        if z is None or not z.alive or z.owner != os.getpid():
            if z is not None and z.owner == os.getpid():
                z.close()
            if any(o.owner != os.getpid() for o in _ZYGOTES.values()):
                _ZYGOTES.clear()   # after os.fork() the child never uses the parent's zygotes
            _ZYGOTES[key] = z = _Zygote(*key)
    return z


def _atexit_close() -> None:
    for z in list(_ZYGOTES.values()):
        if z.owner == os.getpid():
            z.close()


def _run_once(zyg: _Zygote, slot: int, req: dict, stdin_b: bytes, cap: int):
    """One program on slot ``slot``; returns (Result, leak_slot)."""
    sock = zyg.slot_sock(slot)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    st_r, st_w = os.pipe()
    kill_r, kill_w = os.pipe()
    body = json.dumps(req).encode("utf-8", "surrogatepass")
    t0 = time.monotonic()
    try:
        _send_msg(sock, body, [in_r, out_w, err_w, st_w, kill_r])
    except OSError:
        for fd in (in_w, out_r, err_r, st_r, kill_w):
            os.close(fd)
        zyg.drop_slot(slot)
        raise _Gone() from None
    finally:
        for fd in (in_r, out_w, err_w, st_w, kill_r):
            os.close(fd)

    bufs = {out_r: bytearray(), err_r: bytearray(), st_r: bytearray()}
    overflow = False
    truncated = set()
    poller = select.poll()
    for fd in bufs:
        poller.register(fd, select.POLLIN)
    pending = memoryview(stdin_b)
    if pending:
        os.set_blocking(in_w, False)
        poller.register(in_w, select.POLLOUT)
    else:
        os.close(in_w)
        in_w = -1
    open_fds = set(bufs)
    backstop = t0 + req["timeout_s"] + 10.0
    given_up = backstop_hit = False
    try:
        while open_fds:
            now = time.monotonic()
            if now > backstop:   # the slot runner enforces the timeout; it must be stuck
                if backstop_hit:
                    given_up = True
                    break
                backstop_hit = True
                _send_kill(kill_w, b"t")
                backstop = now + 5.0
            for fd, _ev in poller.poll(max(1.0, (backstop - now) * 1000.0)):
                if fd == in_w:
                    try:
                        pending = pending[os.write(in_w, pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except OSError:   # EPIPE: the program stopped reading
                        pending = pending[:0]
                    if not pending:
                        poller.unregister(in_w)
                        os.close(in_w)
                        in_w = -1
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                buf = bufs[fd]
                room = cap - len(buf) if fd != st_r else len(chunk)
                if len(chunk) <= room:
                    buf += chunk
                else:
                    buf += chunk[:max(room, 0)]
                    truncated.add(fd)
                    if not overflow:
                        overflow = True
                        _send_kill(kill_w, b"o")
    finally:
        for fd in (out_r, err_r, st_r, kill_w, in_w):
            if fd >= 0:
                os.close(fd)
    wall = time.monotonic() - t0
    raw = dict(raw_stdout=bytes(bufs[out_r]), raw_stderr=bytes(bufs[err_r]),
               stdout_truncated=out_r in truncated, stderr_truncated=err_r in truncated)
    out = raw["raw_stdout"].decode("utf-8", "replace")
    err = raw["raw_stderr"].decode("utf-8", "replace")
    if given_up:
        zyg.drop_slot(slot)
        return Result(out, err, -signal.SIGKILL, True, "timeout", wall, **raw), True
    line = bytes(bufs[st_r]).split(b"\n", 1)[0]
    if not line:   # the slot runner died mid-run
        zyg.drop_slot(slot)
        raise _Gone()
    st = json.loads(line)
    if st.get("error"):
        zyg.drop_slot(slot)
        raise SandboxError(f"sandbox runner failed: {st['error']}")
    return _result(st, out, err, wall, req, overflow, raw), False


def _send_kill(fd: int, why: bytes) -> None:
    try:
        os.write(fd, why)
    except OSError:
        pass


def _result(st: dict, out: str, err: str, wall: float, req: dict, overflow: bool,
            raw: dict) -> Result:
    status = st.get("status")
    sig = 0
    if status is None or status < 0:   # killed before it could report
        sig = signal.SIGKILL
        rc = -sig
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        rc = -sig
    else:
        rc = os.WEXITSTATUS(status)
    reason = "output" if overflow else st.get("reason")   # "timeout" | "output" | None
    if reason is None:
        if st.get("oom"):
            reason = "memory"
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL
                                       and st.get("cpu", 0.0) >= req["cpu_s"] - 0.05):
            reason = "cpu"
        elif sig:
            reason = "signal"
        elif rc != 0 and _last_line(err).startswith("MemoryError"):
            reason = "memory"
    return Result(out, err, rc, reason == "timeout", reason, wall, **raw)


def _last_line(text: str) -> str:
    lines = text.rstrip().splitlines()
    return lines[-1] if lines else ""


# =========================================================================== zygote side
# Everything below runs in the zygote (python -s sandbox.py --zygote, any CPython >= 3.9)
# and its forks: stdlib only, single-threaded.

_libc = None


def _c():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        import ctypes

        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _fn(name: str):
    """A libc function, or OSError(ENOSYS) where it does not exist (macOS, BSD)."""
    import errno

    try:
        return getattr(_c(), name)
    except AttributeError:
        raise OSError(errno.ENOSYS, f"{name}: not available on {sys.platform}") from None


def _unshare(flags: int) -> None:
    _check(_fn("unshare")(flags), "unshare")


def _setns(fd: int, flags: int) -> None:
    _check(_fn("setns")(fd, flags), "setns")


def _mount(src, target, fstype, flags, data) -> None:
    import ctypes

    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_fn("mount")(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _prctl(option: int, arg: int) -> None:
    import ctypes

    z = ctypes.c_ulong(0)
    _check(_fn("prctl")(option, ctypes.c_ulong(arg), z, z, z), f"prctl {option}")


def _prctl_linux(option: int, arg: int) -> None:
    """prctl that must work on Linux and is skipped where prctl does not exist."""
    try:
        _prctl(option, arg)
    except OSError:
        if sys.platform.startswith("linux"):
            raise


def _drop_caps() -> None:
    """Empty every capability set (user-namespace mode, where we are 'root' inside)."""
    import ctypes

    class Hdr(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _check(_fn("capset")(ctypes.byref(Hdr(0x20080522, 0)), (Data * 2)()), "capset")


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


def _write_fd(fd: int, text: str) -> None:
    try:
        os.write(fd, text.encode())
    except OSError:
        pass


def _probe(fn) -> bool:
    """Run ``fn`` in a forked child: True iff it returns without raising."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1] == 0


class _Features:
    """What the zygote managed to set up; ``public()`` is :func:`capabilities`."""

    def __init__(self):
        self.root = os.geteuid() == 0
        self.userns = self.netns = self.mountns = False
        self.runns = False          # per-run pid + mount + ipc namespaces
        self.procfs = False         # private /proc per run
        self.setuid = False         # programs run as uid_base + slot
        self.stdlib_readable = True
        self.uid_base = 100_000_000 + (os.getpid() % 100_000) * MAX_SLOTS
        self.cgroups: dict[str, str] = {}
        self.covered: list[str] = []
        self.readonly_root = False  # every mount read-only but the per-run tmpfs
        self.writable_dirs: list[str] = []
        self.interpreter_dirs: list[str] = []   # bound back into a per-run tmpfs covering them

    def public(self) -> dict:
        cg = set(self.cgroups)
        return {
            "root": self.root,
            "user_namespace": self.userns,
            "network": "namespace" if self.netns else "socket-monkeypatch",
            "pid_namespace": self.runns,
            "private_tmp": self.runns,
            "private_proc": self.procfs,
            "setuid": self.setuid,
            "stdlib_readable": self.stdlib_readable,
            "uid_range": [self.uid_base, self.uid_base + MAX_SLOTS] if self.setuid else None,
            "memory_cgroup": bool({"memory", "v2"} & cg),
            "pids_cgroup": bool({"pids", "v2"} & cg),
            "cgroups": dict(self.cgroups),
            "hidden_dirs": list(self.covered),
            "readonly_root": self.readonly_root,
            "writable_dirs": list(self.writable_dirs),
            "killing": ("pid-namespace" if self.runns else
                        "kill(-1) as the slot uid" if self.setuid else "subreaper sweep"),
            "python": sys.executable,
            "python_version": "%d.%d.%d" % sys.version_info[:3],
            "site_packages": [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))],
        }


def _writable_dirs() -> list[str]:
    import stat

    found = []
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/run/shm",
              "/dev/mqueue"):
        try:
            real = os.path.realpath(d)
            st = os.stat(real)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and (st.st_mode & 0o002 or real == "/tmp"):
            if real not in found:
                found.append(real)
    if "/tmp" in found:   # first: it holds the work dir and gets the big tmpfs
        found.insert(0, found.pop(found.index("/tmp")))
    return found


#: top-level directories never covered (the system the interpreter needs)
_SYSTEM_TOP = {"", "bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "nix",
               "proc", "run", "sbin", "snap", "sys", "tmp", "usr", "var"}


def _under(p: str, q: str) -> bool:
    return p == q or p.startswith(q.rstrip("/") + "/")


def _interpreter_dirs() -> list[str]:
    """The interpreter's own directories (prefixes, the venv, sys.path entries inside them:
    stdlib, site-packages), realpaths. Not what a .pth file adds from elsewhere (an
    editable install's src/ in the repository stays hidden)."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    venv = os.path.dirname(exe_dir)   # a venv's root (pyvenv.cfg): sys.executable must start
    roots = {os.path.realpath(p) for p in
             (sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix, exe_dir,
              os.path.dirname(os.path.realpath(sys.executable)),
              venv if os.path.isfile(os.path.join(venv, "pyvenv.cfg")) else None)
             if p and os.path.isdir(p)}
    return sorted(roots | {q for q in (os.path.realpath(p) for p in sys.path if p and os.path.isdir(p))
                           if any(_under(q, r) for r in roots)})


def _bind_back(dirs: list[str], fds: list[int]) -> None:
    """Bind-mount each of ``dirs`` (opened as O_PATH ``fds`` before it was covered) back
    into the tmpfs now covering it, read-only."""
    for n, fd in zip(dirs, fds):
        os.makedirs(n, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", n, None, MS_BIND | MS_REC, None)
        try:   # read-only too (keeping the flags a user namespace may not drop)
            keep_flags = os.statvfs(n).f_flag & (2 | 4 | 8 | 1024 | 2048 | 4096)
            _mount(None, n, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep_flags, None)
        except OSError:
            pass   # _readonly_root still covers it on Linux >= 5.12


def _outermost_under(dirs: list[str], top: str) -> list[str]:
    keep = [n for n in dirs if _under(n, top) and n != top]
    return [n for n in keep if not any(n != k and _under(n, k) for k in keep)]


def _hide_private_dirs(root: bool, private: list[str]) -> list[str]:
    """In the zygote's mount namespace, cover private directories with an empty read-only
    tmpfs and bind-mount the interpreter's directories back (read-only): /root and /home,
    the caller's home and working directory (the repository: .dvc/config.local, tokens),
    and -- as root -- each directory "other" cannot traverse on the way to the
    interpreter (pyenv in /root, mode 0700). Returns the covered directories."""
    import stat

    under = _under
    need = _interpreter_dirs()
    blockers = set()
    for d in ("/root", "/home", *private):
        d = os.path.realpath(d)
        if os.path.isdir(d) and d.strip("/").split("/")[0] not in _SYSTEM_TOP:
            blockers.add(d)
    if root:
        for p in need:
            cur = "/"
            for part in p.strip("/").split("/"):
                if not os.stat(cur).st_mode & stat.S_IXOTH:
                    if cur != "/":
                        blockers.add(cur)
                    break
                cur = os.path.join(cur, part)
    # never one inside the interpreter's directories (they are bound back into the
    # covered ones instead); the outermost only
    blockers = {b for b in blockers if not any(under(b, n) for n in need)}
    blockers = sorted(b for b in blockers if not any(b != o and under(b, o) for o in blockers))
    covered = []
    for blocker in blockers:
        keep = _outermost_under(need, blocker)
        fds = []
        try:
            fds = [os.open(n, os.O_PATH | os.O_DIRECTORY) for n in keep]
            _mount("tmpfs", blocker, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
            _bind_back(keep, fds)
            _mount(None, blocker, None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RDONLY, None)
            covered.append(blocker)
        except OSError:   # leave this directory as it was (MNT_DETACH of whatever got mounted)
            try:
                _fn("umount2")(blocker.encode(), 2)
            except OSError:
                pass
        finally:
            for fd in fds:
                os.close(fd)
    return covered


def _readonly_root(keep_rw: tuple[str, ...]) -> bool:
    """Make every mount of the zygote's namespace read-only (mount_setattr, Linux >= 5.12),
    except ``keep_rw`` (which only root may write anyway). The per-run tmpfs mounts on the
    world-writable directories stay writable. False where the kernel cannot."""
    import ctypes

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    def setattr_(path: str, attr_set: int, attr_clr: int) -> int:
        a = MountAttr(attr_set, attr_clr, 0, 0)
        return _fn("syscall")(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE,
                              ctypes.byref(a), ctypes.sizeof(a))

    if not sys.platform.startswith("linux") or platform_machine() not in ("x86_64", "aarch64"):
        return False
    try:
        if setattr_("/", MOUNT_ATTR_RDONLY, 0) != 0:
            return False
        for d in keep_rw:
            if os.path.isdir(d):
                setattr_(d, 0, MOUNT_ATTR_RDONLY)
        return True
    except OSError:
        return False


def platform_machine() -> str:
    return os.uname().machine


def _own_cgroup(controller: str) -> str | None:
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if controller in ctrls.split(",") or (controller == "" and ctrls == ""):
                    return path
    except (OSError, ValueError):
        pass
    return None


def _rm_cgroup(path: str) -> None:
    try:
        for entry in os.listdir(path):
            if os.path.isdir(os.path.join(path, entry)):
                try:
                    os.rmdir(os.path.join(path, entry))
                except OSError:
                    pass
        os.rmdir(path)
    except OSError:
        pass


def _setup_cgroups() -> dict[str, str]:
    """One parent group per zygote under our own memory and pids cgroups (v1), or one v2
    group; {} when not writable. Groups left by dead zygotes are removed."""
    name = f"tunepipe-sbx-{os.getpid()}"

    def prepare(root: str, files: tuple[str, ...]) -> str | None:
        try:
            for entry in os.listdir(root):
                if entry.startswith("tunepipe-sbx-"):
                    try:
                        os.kill(int(entry.rsplit("-", 1)[1]), 0)
                    except (ProcessLookupError, ValueError):
                        _rm_cgroup(os.path.join(root, entry))
                    except PermissionError:
                        pass
            base = os.path.join(root, name)
            os.makedirs(os.path.join(base, "probe"), exist_ok=True)
            ok = all(os.path.exists(os.path.join(base, "probe", f)) for f in files)
            _rm_cgroup(base) if not ok else os.rmdir(os.path.join(base, "probe"))
            return base if ok else None
        except OSError:
            return None

    out: dict[str, str] = {}
    for ctrl, files in (("memory", ("memory.limit_in_bytes",)), ("pids", ("pids.max",))):
        own = _own_cgroup(ctrl)
        if own is not None and os.path.isdir(f"/sys/fs/cgroup/{ctrl}"):
            base = prepare(f"/sys/fs/cgroup/{ctrl}{own}", files)
            if base:
                out[ctrl] = base
    if not out and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        own = _own_cgroup("")
        if own is not None:
            base = prepare("/sys/fs/cgroup" + own, ("memory.max", "pids.max"))
            if base:
                out["v2"] = base
    return out


def _zygote_setup(opts: dict) -> _Features:
    f = _Features()
    if not opts.get("namespaces", True):
        pass
    elif f.root:
        try:
            _unshare(CLONE_NEWNET)
            f.netns = True
        except OSError:
            pass
        try:
            _unshare(CLONE_NEWNS)
            _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            f.mountns = True
        except OSError:
            pass
    else:
        uid, gid = os.geteuid(), os.getegid()
        try:
            _unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS)
            _write("/proc/self/setgroups", "deny")
            if not (_write("/proc/self/uid_map", f"{uid} {uid} 1")
                    and _write("/proc/self/gid_map", f"{gid} {gid} 1")):
                raise OSError("uid_map")
            _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            f.userns = f.netns = f.mountns = True
        except OSError:
            pass
    f.writable_dirs = _writable_dirs()
    f.interpreter_dirs = _interpreter_dirs()

    if f.mountns:
        def per_run():   # the exact per-run sequence, twice (checks the setns trick)
            pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
            for _ in range(2):
                _unshare(CLONE_NEWPID)
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        _unshare(CLONE_NEWNS | CLONE_NEWIPC)
                        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
                        code = 0 if os.getpid() == 1 else 1
                    finally:
                        os._exit(code)
                _setns(pidns, CLONE_NEWPID)
                if os.waitpid(pid, 0)[1] != 0:
                    raise OSError("pid namespace")
        f.runns = _probe(per_run)
    if f.runns:
        def proc():
            _unshare(CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    _unshare(CLONE_NEWNS)
                    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
                    code = 0 if os.readlink("/proc/self") == "1" else 1
                finally:
                    os._exit(code)
            if os.waitpid(pid, 0)[1] != 0:
                raise OSError("proc")
        f.procfs = _probe(proc)

    if f.mountns:
        try:
            f.covered = _hide_private_dirs(f.root, opts.get("private_dirs", []))
        except OSError:
            pass
    if f.root:
        uid = f.uid_base

        def as_uid():
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)

        def stdlib_readable():
            as_uid()
            with open(os.path.join(os.path.dirname(os.__file__), "bisect.py"), "rb") as fh:
                fh.read(1)
            import importlib.util

            if importlib.util.find_spec("_json") is None:   # lib-dynload
                raise OSError("stdlib not readable")
        # A program running as root would own the machine: as root we always switch uid,
        # even when the interpreter's files are unreadable (then only PRELOAD imports).
        f.setuid = _probe(as_uid)
        if not f.setuid:
            raise OSError("running as root but cannot switch to an unprivileged uid: "
                          "refusing to run untrusted programs as root")
        f.stdlib_readable = _probe(stdlib_readable)
        f.cgroups = _setup_cgroups()
    if f.mountns:
        f.readonly_root = _readonly_root(("/proc", "/sys/fs/cgroup"))
    return f


def _zygote_main(sock_fd: int, opts: dict) -> None:
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]   # programs must not import the repository's modules by accident
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=sock_fd)
    feats = _zygote_setup(opts)
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # slot runners are reaped by the kernel
    import gc

    gc.collect()
    gc.freeze()   # forks do not walk (and copy) the zygote's objects when they collect
    sock.sendall(json.dumps(feats.public()).encode() + b"\n")
    runners: list[int] = []
    try:
        while True:
            msg = _recv_msg(sock, 1)
            if msg is None:
                break
            body, fds = msg
            slot = int(json.loads(body)["slot"])
            try:
                pid = os.fork()
            except OSError:
                pid = -1
            if pid == 0:
                code = 1
                try:
                    sock.close()
                    _slot_main(socket.socket(fileno=fds[0]), slot, feats)
                    code = 0
                finally:
                    os._exit(code)
            os.close(fds[0])
            if pid > 0:
                runners.append(pid)
    finally:
        deadline = time.monotonic() + 5.0   # let the runners leave their cgroups
        while runners and time.monotonic() < deadline:
            runners = [p for p in runners if _alive(p)]
            time.sleep(0.01)
        for base in feats.cgroups.values():
            _rm_cgroup(base)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _recv_msg(sock: socket.socket, nfds: int):
    """One length-prefixed message with exactly ``nfds`` file descriptors; None on EOF."""
    while True:
        hdr, fds, _flags, _addr = socket.recv_fds(sock, _HDR.size, 16)
        if not hdr:
            return None
        while len(hdr) < _HDR.size:
            more = sock.recv(_HDR.size - len(hdr))
            if not more:
                return None
            hdr += more
        (n,) = _HDR.unpack(hdr)
        chunks, got = [], 0
        while got < n:
            chunk = sock.recv(min(n - got, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        if len(fds) == nfds:
            return b"".join(chunks), fds
        for fd in fds:
            os.close(fd)


# ----------------------------------------------------------------------- slot runner


def _slot_cgroups(f: _Features, slot: int) -> tuple[dict, list[tuple[str, str]]]:
    """Create the slot's cgroups and move this process in (once: children inherit).
    Returns (limit files, oom counter files)."""
    limits: dict = {"mem": [], "pids": []}
    ooms = []
    for key, base in f.cgroups.items():
        d = os.path.join(base, f"s{slot}")
        try:
            os.makedirs(d, exist_ok=True)
        except OSError:
            continue
        if key == "memory":
            limits["mem"].append(("v1", d))
            ooms.append((d, "memory.oom_control"))
        elif key == "pids":
            limits["pids"].append(os.path.join(d, "pids.max"))
        else:
            limits["mem"].append(("v2", d))
            limits["pids"].append(os.path.join(d, "pids.max"))
            _write(os.path.join(d, "memory.swap.max"), "0")
            ooms.append((d, "memory.events"))
        for p in limits["pids"]:
            _write(p, str(MAX_PROCS))
        _write(os.path.join(d, "cgroup.procs"), "0")
    return limits, ooms


def _set_memory_limit(limits: dict, memory_mb: int, current: list) -> None:
    if current and current[0] == memory_mb:
        return
    value = str((memory_mb + CGROUP_SLACK_MB) << 20)
    for kind, d in limits["mem"]:
        if kind == "v2":
            _write(os.path.join(d, "memory.max"), value)
            continue
        lim, sw = os.path.join(d, "memory.limit_in_bytes"), os.path.join(d, "memory.memsw.limit_in_bytes")
        if not _write(lim, value):   # memsw must stay >= limit: raise it first
            _write(sw, value)
            _write(lim, value)
        if os.path.exists(sw):
            _write(sw, value)
    current[:] = [memory_mb]


def _oom_kills(d: str, fname: str) -> int:
    try:
        with open(os.path.join(d, fname)) as fh:
            for line in fh:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _slot_main(sock: socket.socket, slot: int, f: _Features) -> None:
    """S: serve the runs of one slot, one at a time, until the parent closes ``sock``."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    uid = f.uid_base + slot if f.setuid else None
    limits, ooms = _slot_cgroups(f, slot) if f.cgroups else ({"mem": [], "pids": []}, [])
    _write("/proc/self/oom_score_adj", "-1000")   # the OOM killer must pick the program
    if not f.runns:
        try:
            _prctl(PR_SET_CHILD_SUBREAPER, 1)   # Linux >= 3.4: orphans come back to us
        except OSError:
            pass
    pidns = os.open("/proc/self/ns/pid", os.O_RDONLY) if f.runns else -1
    current_mem: list = []
    sock.sendall(b"ready\n")
    while True:
        msg = _recv_msg(sock, 5)
        if msg is None:
            return
        body, fds = msg
        st_w = fds[3]
        try:
            req = json.loads(body.decode("utf-8", "surrogatepass"))
            del body
            _set_memory_limit(limits, req["memory_mb"], current_mem)
            before = [_oom_kills(d, fn) for d, fn in ooms]
            report = _serve(req, fds, f, uid, pidns)
            report["oom"] = any(_oom_kills(d, fn) > n for (d, fn), n in zip(ooms, before))
            _write_fd(st_w, json.dumps(report) + "\n")
        except BaseException as e:   # infrastructure failure: report, then let a new S start
            _write_fd(st_w, json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
            raise
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _serve(req: dict, fds: list[int], f: _Features, uid: int | None, pidns: int) -> dict:
    in_r, out_w, err_w, st_w, kill_r = fds
    t0 = time.monotonic()
    host_workdir = None
    if not f.runns:
        import tempfile

        host_workdir = tempfile.mkdtemp(prefix="tunepipe-sbx-")
        if uid is not None:
            os.chown(host_workdir, uid, uid)
    rp, wp = os.pipe()
    if f.runns:
        _unshare(CLONE_NEWPID)
    pid = -1
    try:
        pid = os.fork()
    finally:
        if f.runns and pid != 0:   # back to our own pid ns, so the next unshare works
            _setns(pidns, CLONE_NEWPID)
    if pid == 0:
        try:
            os.close(rp)
            os.close(st_w)
            os.close(kill_r)
            _child(req, in_r, out_w, err_w, wp, host_workdir, uid, f)
        except BaseException as e:
            _write_fd(wp, f"error {type(e).__name__}: {e}".replace("\n", " ") + "\n")
        finally:
            os._exit(125)
    os.close(wp)
    reason = _wait(pid, t0 + req["timeout_s"], kill_r)
    if reason is not None:
        try:
            os.kill(pid, signal.SIGKILL)   # pid namespace: its init; teardown kills the rest
        except ProcessLookupError:
            pass
    # With a pid namespace, the init's exit completes only after the kernel has killed
    # and reaped every other process in it: when wait4 returns, nothing is left.
    _, status, ru = os.wait4(pid, 0)
    if not f.runns:
        try:
            os.killpg(pid, signal.SIGKILL)   # the program's session (it called setsid)
        except OSError:
            pass
        _sweep(uid)
    text = _read_all(rp).decode("utf-8", "replace")
    os.close(rp)
    report: dict = {"reason": reason, "status": status, "cpu": ru.ru_utime + ru.ru_stime}
    if text.startswith("error "):
        report["error"] = text[6:].strip()
    if host_workdir:
        import shutil

        shutil.rmtree(host_workdir, ignore_errors=True)
        if uid is not None:
            _remove_owned(f.writable_dirs, uid)
    return report


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def _wait(pid: int, deadline: float, kill_r: int) -> str | None:
    """Until P exits (None), the deadline passes ("timeout"), or the parent asks for a
    kill ("output"; "timeout" from its backstop or when it is gone)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = -1
    poller = select.poll()
    poller.register(kill_r, select.POLLIN)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            for fd, _ev in poller.poll((left if pidfd >= 0 else min(left, 0.005)) * 1000.0):
                if fd == pidfd:
                    return None
                return "output" if os.read(kill_r, 1) == b"o" else "timeout"
            if pidfd < 0 and os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                return None
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def _sweep(uid: int | None) -> None:
    """Fallback without a pid namespace: kill whatever the run left behind."""
    if uid is not None:
        killer = os.fork()
        if killer == 0:
            try:
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)   # every process of the slot uid, atomically
            finally:
                os._exit(0)
        os.waitpid(killer, 0)
    deadline = time.monotonic() + 5.0   # orphans were reparented to us (subreaper)
    while time.monotonic() < deadline:
        victims = _children_of(os.getpid())
        for v in victims:
            for kill in (os.killpg, os.kill):
                try:
                    kill(v, signal.SIGKILL)
                except OSError:
                    pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return
        if not victims:
            return
        time.sleep(0.002)


def _children_of(ppid: int) -> list[int]:
    out = []
    if not os.path.isdir("/proc/self"):   # no procfs (macOS): nothing to find
        return out
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
                if int(stat[stat.rindex(b")") + 2:].split()[1]) == ppid:
                    out.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _remove_owned(dirs: list[str], uid: int) -> None:
    """Fallback: delete what the slot uid created in the world-writable directories. It can
    only have written where "other" may write (or inside what it created), so only those
    directories are searched -- not the whole of /tmp."""
    import shutil
    import stat

    stack = list(dirs)
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                    if st.st_uid == uid:
                        if stat.S_ISDIR(st.st_mode):
                            shutil.rmtree(e.path, ignore_errors=True)
                        else:
                            os.unlink(e.path)
                    elif stat.S_ISDIR(st.st_mode) and st.st_mode & 0o002:
                        stack.append(e.path)
                except OSError:
                    pass


def _child(req, in_r, out_w, err_w, wp, host_workdir, uid, f: _Features) -> None:
    """The run's only forked process: pid 1 of a fresh pid namespace (when available) with
    private mount and IPC namespaces, then the program itself. Never returns."""
    if f.runns:
        _unshare(CLONE_NEWNS | CLONE_NEWIPC)
        for i, d in enumerate(f.writable_dirs):
            # an interpreter (a venv) living under /tmp stays importable: bound back read-only
            keep = _outermost_under(f.interpreter_dirs, d)
            fds = [os.open(n, os.O_PATH | os.O_DIRECTORY) for n in keep]
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={TMPFS_MB if i == 0 else 8}m,nr_inodes=4096,mode=1777")
            try:
                _bind_back(keep, fds)
            finally:
                for fd in fds:
                    os.close(fd)
        if f.procfs:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        workdir = "/tmp/sandbox"
        os.mkdir(workdir, 0o700)
        if uid is not None:
            os.chown(workdir, uid, uid)
    else:
        workdir = host_workdir
    _exec_user(req, in_r, out_w, err_w, wp, workdir, uid, f)


def _exec_user(req, in_r, out_w, err_w, wp, workdir, uid, f: _Features) -> None:
    """Become the program: limits, unprivileged uid, stdio. Never returns."""
    import resource

    try:
        os.setsid()
        _write("/proc/self/oom_score_adj", "0")
        mem = int(req["memory_mb"]) << 20
        cpu = max(1, int(-(-req["cpu_s"] // 1)))
        for lim, val in ((resource.RLIMIT_AS, (mem, mem)),
                         # soft = hard: SIGKILL at the limit (as pid 1 the program would
                         # ignore the SIGXCPU a soft limit sends)
                         (resource.RLIMIT_CPU, (cpu, cpu)),
                         (resource.RLIMIT_FSIZE, (FILE_SIZE_MB << 20,) * 2),
                         (resource.RLIMIT_NOFILE, (MAX_OPEN_FILES,) * 2),
                         (resource.RLIMIT_NPROC, (MAX_PROCS,) * 2),
                         (resource.RLIMIT_CORE, (0, 0))):
            try:
                resource.setrlimit(lim, val)
            except (ValueError, OSError):
                if sys.platform.startswith("linux"):
                    raise   # elsewhere (macOS rejects some RLIMIT_AS values): best effort
        os.chdir(workdir)
        sys.path.insert(0, workdir)   # like python main.py: the script's directory first
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            _prctl_linux(PR_SET_DUMPABLE, 1)   # keep /proc/self readable by the program
        elif f.userns:
            _drop_caps()
        _prctl_linux(PR_SET_NO_NEW_PRIVS, 1)
        for fd, target in ((in_r, 0), (out_w, 1), (err_w, 2)):
            os.dup2(fd, target)
        os.closerange(3, 1 << 20 if sys.platform.startswith("linux") else 4096)   # close_range(2)
        os.environ["HOME"] = os.environ["TMPDIR"] = workdir
        if not f.netns:
            _block_sockets()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except BaseException as e:   # an infrastructure failure, reported as such
        _write_fd(wp, f"error setup: {type(e).__name__}: {e}".replace("\n", " ") + "\n")
        os._exit(125)
    os._exit(_run_program(req["code"]))


def _block_sockets() -> None:
    import _socket
    import errno

    def blocked(*_a, **_k):
        raise PermissionError(errno.EACCES, "network access is disabled in the sandbox")

    for mod in (socket, _socket):
        for name in ("socket", "socketpair", "fromfd", "create_connection",
                     "create_server", "getaddrinfo", "gethostbyname"):
            if hasattr(mod, name):
                setattr(mod, name, blocked)


def _run_program(src: str) -> int:
    """Execute ``src`` as ``__main__`` with fresh stdio, like ``python main.py``."""
    import atexit
    import builtins
    import io
    import linecache
    import types

    def stream(fd, mode, errors, line_buffering=False):
        raw = io.FileIO(fd, mode, closefd=False)
        buf = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(buf, encoding="utf-8", errors=errors, newline="\n",
                                line_buffering=line_buffering)

    sys.stdin = sys.__stdin__ = stream(0, "r", "strict")
    sys.stdout = sys.__stdout__ = stream(1, "w", "strict")
    sys.stderr = sys.__stderr__ = stream(2, "w", "backslashreplace", True)
    sys.argv = ["main.py"]

    class Quitter:
        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

        def __call__(self, code=None):
            raise SystemExit(code)

    builtins.exit, builtins.quit = Quitter("exit"), Quitter("quit")
    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins, __loader__=None, __spec__=None,
                         __annotations__={}, __file__="main.py")
    sys.modules["__main__"] = main
    atexit._clear()
    linecache.cache["main.py"] = (len(src), None, src.splitlines(True), "main.py")
    code = 0
    try:
        exec(_compile_main(src), main.__dict__)
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException as e:
        code = 1
        try:   # hide this frame: the traceback starts in main.py, as with python main.py
            tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
            sys.excepthook(type(e), e.with_traceback(tb), tb)
        except BaseException:
            pass
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()   # wait for non-daemon threads
        atexit._run_exitfuncs()
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:
        pass
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except BaseException:
            if s is sys.stdout and code == 0:
                code = 120   # what CPython does when flushing stdout fails at exit
    return code


def _compile_main(src: str):
    """``compile`` of the program, with CPython 3.12's compile-time warnings on older
    interpreters: an invalid escape sequence (``'\\d'``) is a DeprecationWarning there,
    hidden by default, and a SyntaxWarning printed on stderr in 3.12 (the validators'
    interpreter). Other warnings go through the usual filters."""
    if sys.version_info >= (3, 12):
        return compile(src, "main.py", "exec")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = compile(src, "main.py", "exec")
    for w in caught:
        msg = str(w.message)
        if issubclass(w.category, DeprecationWarning) and msg.startswith(
                ("invalid escape sequence", "invalid octal escape sequence")):
            warnings.warn_explicit(msg, SyntaxWarning, w.filename, w.lineno)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return code


def _exit_code(e: SystemExit) -> int:
    c = e.code
    if c is None:
        return 0
    if isinstance(c, int):
        return c & 0xFF
    try:
        print(c, file=sys.stderr)
    except BaseException:
        pass
    return 1


if __name__ == "__main__" and sys.argv[1:2] == ["--zygote"]:
    _zygote_main(int(sys.argv[2]), json.loads(sys.argv[3]))
    sys.exit(0)

import atexit as _atexit  # noqa: E402

_atexit.register(_atexit_close)

if __name__ == "__main__":
    print(json.dumps(capabilities(), indent=2))
