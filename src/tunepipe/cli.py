"""Glue for the Fire-wrapped stage scripts: one-line errors, non-zero exit."""
from __future__ import annotations

import os
import sys


def run(fn) -> None:
    """``fire.Fire(fn)``; a :class:`TunepipeError` becomes ``error: <msg>`` and exit 1."""
    import fire

    from tunepipe import TunepipeError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        fire.Fire(fn)
    except TunepipeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def maybe_relaunch(launch: dict) -> None:
    """Re-exec this stage under ``accelerate launch`` when params ask for it
    (``launch.launcher: accelerate``), so dvc.yaml stays the same from 1 to N GPUs."""
    from tunepipe import TunepipeError

    launcher = launch["launcher"]
    if launcher == "python" or os.environ.get("TUNEPIPE_LAUNCHED"):
        return
    if launcher != "accelerate":
        raise TunepipeError(f"launch.launcher: expected 'python' or 'accelerate', got {launcher!r}")
    import shutil

    exe = shutil.which("accelerate")
    if exe is None:
        raise TunepipeError("launch.launcher=accelerate but the 'accelerate' command is not on PATH")
    cmd = [exe, "launch", "--num_processes", str(launch["num_processes"])]
    if launch.get("config_file"):
        cmd += ["--config_file", str(launch["config_file"])]
    if launch.get("cpu"):
        cmd += ["--cpu"]
    cmd += [sys.argv[0], *sys.argv[1:]]
    print("relaunching:", " ".join(cmd), flush=True)
    os.environ["TUNEPIPE_LAUNCHED"] = "1"
    os.execv(exe, cmd)
