"""The five text environments as task families (multi-turn): craft, grid, shop, household, lab.

A row of an environment family is one instance: ``spec`` names it (``env``, ``seed``,
``difficulty``) and carries the episode rules from params (``max_steps``, the rewards,
``server``), so evaluate and grpo rebuild the same episode without reading ``collect``.
``prompt`` is the first user message (the environment's instruction and first
observation), ``answer`` the oracle's first turn and ``turns`` the rest of the oracle's
episode, ``[{"observation", "answer"}, ...]`` (the observation answering the previous turn,
then the oracle's next turn): collect's expert episodes. ``turns`` is null for instances
of a real AgentGym server (``server`` set: it has no oracle), which SFT skips.

The protocol's single-turn ``score(text, spec)`` scores a transcript: every ``Action:`` in
``text`` is one turn, replayed from the instance's first state; 1.0 when the episode
succeeds, else 0.0 (the reward stage verifies the expert episodes this way). Whole
episodes with model turns are run by :mod:`tunepipe.episodes` (grpo's rollouts, evaluate).
"""
from __future__ import annotations

import re

from tunepipe.tasks import envs
from tunepipe.tasks.envs.base import EnvConfig, format_turn, parse_action
from tunepipe.tasks.protocol import BuildRequest, Family

NAMES = ("craft", "grid", "shop", "household", "lab")
SPEC_FIELDS = {"env": str, "seed": int, "difficulty": int, "max_steps": int, "success_reward": (int, float),
               "step_reward": (int, float), "invalid_reward": (int, float)}
_ACTION = re.compile(r"Action:")


def config_of(spec: dict) -> EnvConfig:
    return EnvConfig(difficulty=[spec["difficulty"], spec["difficulty"]], max_steps=spec["max_steps"],
                     success_reward=spec["success_reward"], step_reward=spec["step_reward"],
                     invalid_reward=spec["invalid_reward"], server=spec.get("server"))


def episode(spec: dict):
    """``(env, first observation)``: the instance of ``spec``, reset."""
    env = envs.make(spec["env"], config_of(spec))
    return env, env.reset(spec["seed"], spec["difficulty"])


def first_message(env, observation: str) -> list[dict]:
    return [{"role": "user", "content": f"{env.instruction}\n\n{observation}"}]


def expert_episode(env, observation: str) -> tuple[str, list[dict]]:
    """The oracle's first turn and the rest of its episode (``turns``)."""
    first, turns = None, []
    while not env.done:
        turn = format_turn(*env.expert())
        if first is None:
            first = turn
        else:
            turns.append({"observation": observation, "answer": turn})
        observation, _reward, _done = env.step(parse_action(turn, keep=env.keep))
    if not env.success:
        raise ValueError(f"the {env.name} oracle failed an instance (a bug in the environment)")
    return first, turns


def _family(name: str) -> Family:
    def build(n: int, rng, cfg: EnvConfig, req: BuildRequest) -> list[dict]:
        lo, hi = cfg.difficulty   # checked by EnvConfig (1 <= lo <= hi <= 3, max_steps >= 1)
        rows = []
        for _ in range(n):
            seed, difficulty = rng.randrange(2**31), rng.randint(lo, hi)
            spec = {"env": name, "seed": seed, "difficulty": difficulty, "max_steps": cfg.max_steps,
                    "success_reward": cfg.success_reward, "step_reward": cfg.step_reward,
                    "invalid_reward": cfg.invalid_reward, "server": cfg.server}
            if cfg.server:   # a real server: instances only, no oracle
                env, obs = episode(spec)
                answer, turns = "", None
            else:   # the oracle plays without the step limit, which must then leave it room
                env, obs = episode({**spec, "max_steps": 10_000})
                answer, turns = expert_episode(env, obs)
                if len(turns) + 1 > cfg.max_steps:
                    raise ValueError(f"max_steps: {cfg.max_steps} is fewer turns than the oracle needs "
                                     f"({len(turns) + 1}) for instance seed {seed}, difficulty {difficulty}")
            rows.append({"task": name, "prompt": first_message(env, obs), "answer": answer, "spec": spec,
                         "turns": turns})
        return rows

    def actions(text: str, keep: str) -> list[str | None]:
        if not isinstance(text, str):
            return []
        cuts = [m.start() for m in _ACTION.finditer(text)]
        return [parse_action(text[a:b], keep=keep) for a, b in zip(cuts, cuts[1:] + [len(text)])]

    def parse(text: str, spec: dict):
        """The command of a single turn (AgentGym's parse); None when it has none."""
        return parse_action(text, keep=envs.ENVS[name].keep)

    def score(text: str, spec: dict) -> float:
        env, _obs = episode(spec)
        for action in actions(text, env.keep):
            if env.done:
                break
            env.step(action)
        return 1.0 if env.success else 0.0

    def check_spec(spec: dict) -> None:
        for k, t in SPEC_FIELDS.items():
            if k not in spec:
                raise ValueError(f"{k}: missing")
            if not isinstance(spec[k], t) or isinstance(spec[k], bool):
                raise ValueError(f"{k}: expected {getattr(t, '__name__', 'a number')}, got {spec[k]!r}")
        if spec["env"] != name:
            raise ValueError(f"env: expected {name!r}, got {spec['env']!r}")
        if spec["difficulty"] < 1 or spec["max_steps"] < 1:
            raise ValueError("difficulty: expected >= 1" if spec["difficulty"] < 1 else "max_steps: expected >= 1")
        if spec.get("server") is not None and not isinstance(spec["server"], str):
            raise ValueError(f"server: expected a URL or null, got {spec['server']!r}")

    return Family(name=name, config=EnvConfig, build=build, parse=parse, score=score, check_spec=check_spec,
                  key=lambda row: f"{name}/{row['spec']['seed']}/{row['spec']['difficulty']}",
                  reads="final", episode=episode,
                  budget=1024)   # per model turn: a Thought paragraph and one Action line (AgentGym's agents)


CRAFT, GRID, SHOP, HOUSEHOLD, LAB = (_family(n) for n in NAMES)
