"""libc and namespace calls of the zygote and its forks (ctypes; Linux, with ENOSYS where
a call does not exist), and small OS helpers. Stdlib only (any CPython >= 3.9)."""
from __future__ import annotations

import os
import sys

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

