"""The zygote and its slot runners (S). This file runs as a script, ``python -s
.../tunepipe/sandbox/server.py --zygote FD OPTIONS``, started by :mod:`.client` with the
interpreter that runs the programs (any CPython >= 3.9, where tunepipe may not be
importable): stdlib only, single-threaded. The zygote sets up its namespaces, hidden
directories and cgroups (:func:`_zygote_setup`), imports PRELOAD, then forks one slot
runner per concurrent worker; each slot runner serves its runs one at a time
(:func:`_slot_main`), forking the run's process (:mod:`.program`) per run."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

if __name__ == "__main__" and not __package__:
    # Run as a script: this directory becomes the package tunepipe.sandbox (its __init__,
    # the parent side, and tunepipe's are not run), so that the imports below resolve to
    # the files beside this one. _zygote_main drops them from sys.modules again.
    import types as _types

    _pkg = _types.ModuleType("tunepipe.sandbox")
    _pkg.__path__ = [os.path.dirname(os.path.abspath(__file__))]
    sys.modules["tunepipe.sandbox"] = _pkg
    __package__ = "tunepipe.sandbox"

# the single-module sandbox imported these at start too: programs still find them loaded
import dataclasses  # noqa: E402,F401
import threading  # noqa: E402,F401

from .cgroups import _oom_kills, _rm_cgroup, _set_memory_limit, _setup_cgroups, _slot_cgroups  # noqa: E402
from .constants import _HDR, MAX_SLOTS, PRELOAD  # noqa: E402
from .fs import (_hide_private_dirs, _interpreter_dirs, _readonly_root, _remove_owned,  # noqa: E402
                 _writable_dirs)
from .program import _child  # noqa: E402
from .syscalls import (CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,  # noqa: E402
                       CLONE_NEWUSER, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC,
                       PR_SET_CHILD_SUBREAPER, _mount, _prctl, _probe, _setns, _unshare, _write,
                       _write_fd)


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
    for name in [n for n in sys.modules if n == __package__ or n.startswith(f"{__package__}.")]:
        del sys.modules[name]   # nor find the sandbox's own (this package, loaded from there)
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


if __name__ == "__main__" and sys.argv[1:2] == ["--zygote"]:
    _zygote_main(int(sys.argv[2]), json.loads(sys.argv[3]))
    sys.exit(0)
