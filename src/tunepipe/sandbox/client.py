"""The parent side: :func:`run` and :func:`run_many` drive programs through a zygote per
interpreter and hash seed (started on first use: ``python -s .../sandbox/server.py
--zygote``), one slot runner per concurrent run, pipes passed over unix sockets
(SCM_RIGHTS); the calling process feeds stdin and reads the capped output."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from .constants import _HDR, CLEAN_ENV, MAX_SLOTS, ZYGOTE_START_TIMEOUT_S


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
        cmd = [python, "-s", os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py"), "--zygote",
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


import atexit as _atexit  # noqa: E402

_atexit.register(_atexit_close)
