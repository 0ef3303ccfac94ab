"""cgroups (v1 memory and pids, or v2) of the zygote and its slot runners: one parent
group per zygote, one group per slot, the per-run memory limit and the OOM-kill counters.
Stdlib only (any CPython >= 3.9)."""
from __future__ import annotations

import os
from .constants import CGROUP_SLACK_MB, MAX_PROCS
from .syscalls import _write

# `_Features` (annotations only, never evaluated) is server.py's: not imported, so the
# layers below the zygote server do not import it back


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
