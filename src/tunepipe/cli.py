"""Glue for the Fire-wrapped stage scripts: one-line errors, non-zero exit."""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from pathlib import Path


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


@dataclasses.dataclass
class LaunchArgs:
    """The ``launch:`` params section: how sft and grpo are started (docs/guides/scale-out.md)."""
    launcher: str                 # python | accelerate
    num_processes: int            # training processes in all, over every machine
    config_file: str | None       # an accelerate config: configs/accelerate/{ddp,fsdp,zero2,zero3}.yaml
    cpu: bool                     # processes on the CPU (gloo): the tests' 2-process runs
    num_machines: int             # several nodes: machine i runs the stage with TUNEPIPE_MACHINE_RANK=i
    main_process_ip: str | None   # several nodes: the address of machine 0
    main_process_port: int | None # null: a free port (one machine only)
    gpu_memory_gb: float = 80.0   # GiB per GPU: tunepipe.plan's memory estimate warns above it (not read by the stages)


#: the rank of this machine in a multi-node run; per machine, so not a param (dvc.lock is shared)
MACHINE_RANK_ENV = "TUNEPIPE_MACHINE_RANK"


def launch_command(a: LaunchArgs, argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``accelerate launch`` command line (and extra environment) that runs ``argv``
    (the stage script and its arguments) as ``a`` asks. Raises :class:`TunepipeError` on
    params that cannot work, naming the param."""
    from tunepipe import TunepipeError

    if a.num_processes < 1:
        raise TunepipeError(f"launch.num_processes: must be >= 1, got {a.num_processes}")
    if a.num_machines < 1 or a.num_processes % a.num_machines:
        raise TunepipeError(f"launch.num_machines: {a.num_machines} does not divide launch.num_processes "
                            f"{a.num_processes} (num_processes counts the processes of every machine)")
    if a.config_file is not None and not Path(a.config_file).is_file():
        raise TunepipeError(f"launch.config_file: {a.config_file} not found")
    rank = os.environ.get(MACHINE_RANK_ENV, "0")
    if not rank.isdigit() or int(rank) >= a.num_machines:
        raise TunepipeError(f"{MACHINE_RANK_ENV}={rank!r}: expected 0..{a.num_machines - 1} (launch.num_machines)")
    if a.num_machines > 1 and (a.main_process_ip is None or a.main_process_port is None):
        raise TunepipeError("launch.num_machines > 1 needs launch.main_process_ip and launch.main_process_port "
                            "(the address of machine 0)")
    exe = shutil.which("accelerate")
    if exe is None:
        raise TunepipeError("launch.launcher=accelerate but the 'accelerate' command is not on PATH")
    cmd = [exe, "launch", "--num_processes", str(a.num_processes), "--num_machines", str(a.num_machines),
           "--machine_rank", rank,
           "--main_process_port", str(a.main_process_port if a.main_process_port is not None else 0)]
    if a.main_process_ip is not None:
        cmd += ["--main_process_ip", a.main_process_ip]
    if a.config_file is not None:
        cmd += ["--config_file", a.config_file]   # the engine (DDP / FSDP / DeepSpeed) comes from the file
    elif a.num_processes > 1 or a.num_machines > 1:
        cmd += ["--multi_gpu"]                     # torch.distributed.run: DDP (gloo with launch.cpu)
    env = {}
    if a.cpu:
        # accelerate's own --cpu goes through its single-process launcher (several CPU processes
        # need mpirun there); torch.distributed.run + ACCELERATE_USE_CPU gives DDP over gloo
        env["ACCELERATE_USE_CPU"] = "true"
        if a.num_processes == 1 and a.config_file is None:
            cmd += ["--cpu"]
    return cmd + list(argv), env


def maybe_relaunch(launch: dict) -> None:
    """Re-exec this stage under ``accelerate launch`` when params ask for it
    (``launch.launcher: accelerate``), so dvc.yaml stays the same from 1 GPU to N GPUs to
    several machines. Each process then runs the stage; only the main one writes outputs."""
    from tunepipe import TunepipeError, config

    a = config.typed(LaunchArgs, launch, "launch")
    if a.launcher not in ("python", "accelerate"):
        raise TunepipeError(f"launch.launcher: expected 'python' or 'accelerate', got {a.launcher!r}")
    if a.launcher == "python" or os.environ.get("TUNEPIPE_LAUNCHED"):
        return
    cmd, env = launch_command(a, [sys.argv[0], *sys.argv[1:]])
    print("relaunching:", " ".join(cmd), flush=True)
    os.environ.update(env, TUNEPIPE_LAUNCHED="1")
    os.execv(cmd[0], cmd)
