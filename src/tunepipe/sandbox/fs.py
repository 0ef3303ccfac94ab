"""The zygote's filesystem: world-writable directories (covered by a per-run tmpfs), the
interpreter's own directories (bound back read-only), private directories hidden behind
an empty read-only tmpfs, read-only mounts, and the fallback's clean-up of what a run
left in the world-writable directories. Stdlib only (any CPython >= 3.9)."""
from __future__ import annotations

import os
import sys

from .syscalls import (AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY, MS_BIND, MS_NODEV, MS_NOSUID,
                       MS_RDONLY, MS_REC, MS_REMOUNT, SYS_MOUNT_SETATTR, _fn, _mount)


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
