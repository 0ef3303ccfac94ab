"""U, the run's only forked process: pid 1 of a fresh pid namespace with private mount
and IPC namespaces (per-run tmpfs, private /proc), then limits, an unprivileged uid, and
the program itself run as ``__main__`` (like ``python main.py``). Stdlib only (any
CPython >= 3.9)."""
from __future__ import annotations

import os
import signal
import socket
import sys
from .constants import FILE_SIZE_MB, MAX_OPEN_FILES, MAX_PROCS, TMPFS_MB
from .fs import _bind_back, _outermost_under
from .syscalls import (CLONE_NEWIPC, CLONE_NEWNS, MS_NODEV, MS_NOEXEC, MS_NOSUID, PR_SET_DUMPABLE,
                       PR_SET_NO_NEW_PRIVS, _drop_caps, _mount, _prctl_linux, _unshare, _write,
                       _write_fd)

# `_Features` (annotations only, never evaluated) is server.py's: not imported, so the
# layers below the zygote server do not import it back


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
