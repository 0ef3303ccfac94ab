"""The text environments as task families (multi-turn), one per engine of
:data:`.agentgym.ENGINES` under AgentGym's names: ``babyai``, ``textcraft``, ``sciworld`` (the
real engines, in-process) and ``webshop``, ``alfworld`` (faithful simulators).

A row of an environment family is one instance: ``spec`` names it (``env``, ``seed`` -- the
AgentGym index ``data_idx`` --, ``difficulty``) and carries the episode rules from params
(``max_steps``, ``train_reward``, ``server``; the engines report their own rewards), so evaluate and grpo rebuild the
same episode without reading ``collect``. ``seed`` is drawn from the engine's
``INDEX_RANGES[difficulty]`` (the index alone decides the instance, on a server too).
``prompt`` is the first user message (the environment's instruction and first observation),
``agentgym_prompt`` AgentGym's layout of it (user = the instruction, assistant = the canned
acknowledgement, user = the first observation; evaluate's ``episode.layout: agentgym``),
``answer`` the oracle's first turn and ``turns`` the rest of the oracle's episode,
``[{"observation", "answer"}, ...]``: collect's expert episodes. ``turns`` is null for
instances of a server (``server`` set: it has no oracle), which SFT skips.

Every episode is an :class:`.agentgym.Episode` (AgentGym's client semantics), closed by
whoever opened it. The protocol's single-turn ``score(text, spec)`` scores a transcript:
every ``Action:`` in ``text`` is one turn, replayed from the instance's first state; 1.0 when
the engine completes, else 0.0 (the reward stage verifies the expert episodes this way).
Whole episodes with model turns are run by :mod:`tunepipe.episodes` (grpo's rollouts, evaluate).
"""
from __future__ import annotations

import re

from tunepipe.tasks.envs import agentgym
from tunepipe.tasks.envs.agentgym import Episode, HttpEngine
from tunepipe.tasks.envs.base import EnvConfig
from tunepipe.tasks.protocol import BuildRequest, Family

NAMES = ("babyai", "textcraft", "sciworld", "webshop", "alfworld")
SPEC_FIELDS = {"env": str, "seed": int, "difficulty": int, "max_steps": int, "train_reward": str}
_ACTION = re.compile(r"Action:")


def dialect(name: str) -> str:
    return agentgym.engine_class(name).NAME


def index_ranges(name: str) -> dict:
    """The engine's ``INDEX_RANGES`` (difficulty -> data_idx sequence)."""
    return agentgym.engine_class(name).INDEX_RANGES


def make_episode(spec: dict) -> Episode:
    """The (not yet reset) :class:`.agentgym.Episode` of ``spec``: in-process, or over
    ``spec["server"]`` with AgentGym's bodies."""
    name, server = spec["env"], spec.get("server")
    cls = agentgym.engine_class(name)
    engine = HttpEngine(server, cls.NAME, INSTRUCTION=cls.INSTRUCTION, ACK=cls.ACK) if server else cls()
    return Episode(engine, cls.NAME, max_rounds=spec["max_steps"])


def episode(spec: dict) -> tuple[Episode, str]:
    """``(episode, first observation)``: the instance of ``spec``, reset. The caller closes it."""
    ep = make_episode(spec)
    try:
        return ep, ep.reset(spec["seed"])
    except BaseException:
        ep.close()
        raise


def first_message(ep, observation: str) -> list[dict]:
    return [{"role": "user", "content": f"{ep.instruction}\n\n{observation}"}]


def agentgym_messages(ep, observation: str) -> list[dict]:
    """AgentGym's conversation start: the instruction, the canned acknowledgement, the observation."""
    return [{"role": "user", "content": ep.instruction}, {"role": "assistant", "content": ep.ack},
            {"role": "user", "content": observation}]


def expert_episode(ep: Episode, observation: str) -> tuple[str, list[dict]]:
    """The oracle's first turn and the rest of its episode (``turns``)."""
    first, turns = None, []
    while not ep.done:
        turn = ep.expert_turn()
        if first is None:
            first = turn
        else:
            turns.append({"observation": observation, "answer": turn})
        observation, _reward, _done = ep.turn(turn)
    if not ep.completed:
        raise ValueError(f"the {ep.name} oracle failed an instance (a bug in the environment)")
    return first, turns


def _family(name: str) -> Family:
    def build(n: int, rng, cfg: EnvConfig, req: BuildRequest) -> list[dict]:
        lo, hi = cfg.difficulty   # checked by EnvConfig (1 <= lo <= hi <= 3, max_steps >= 1)
        ranges = index_ranges(name)
        have = sum(len(ranges[d]) for d in range(lo, hi + 1))
        if n > have:
            raise ValueError(f"{n} rows asked, but difficulty {lo}..{hi} has {have} instances "
                             f"({name}'s INDEX_RANGES); lower the count or widen collect.{name}.difficulty")
        rows = []
        for _ in range(n):
            difficulty = rng.randint(lo, hi)
            r = ranges[difficulty]
            seed = r[rng.randrange(len(r))]
            spec = {"env": name, "seed": seed, "difficulty": difficulty, "max_steps": cfg.max_steps,
                    "train_reward": cfg.train_reward, "server": cfg.server}
            if cfg.server:   # a server: instances only, no oracle
                ep, obs = episode(spec)
                ep.close()
                answer, turns = "", None
            else:   # the oracle plays without the step limit, which must then leave it room
                ep, obs = episode({**spec, "max_steps": 10_000})
                with ep:
                    answer, turns = expert_episode(ep, obs)
                if len(turns) + 1 > cfg.max_steps:
                    raise ValueError(f"max_steps: {cfg.max_steps} is fewer turns than the oracle needs "
                                     f"({len(turns) + 1}) for instance seed {seed}, difficulty {difficulty}")
            rows.append({"task": name, "prompt": first_message(ep, obs), "agentgym_prompt": agentgym_messages(ep, obs),
                         "answer": answer, "spec": spec, "turns": turns})
        return rows

    def segments(text: str) -> list[str]:
        if not isinstance(text, str):
            return []
        cuts = [m.start() for m in _ACTION.finditer(text)]
        # a turn's text: its Action line(s), up to the next turn's Thought
        return [re.split(r"\n\s*Thought:", text[a:b])[0] for a, b in zip(cuts, cuts[1:] + [len(text)])]

    def parse(text: str, spec: dict):
        """The command AgentGym's client sends for a single turn (None: answered locally)."""
        return agentgym.client_action(text, name)

    def score(text: str, spec: dict) -> float:
        ep, _obs = episode(spec)
        with ep:
            for seg in segments(text):
                if ep.done:
                    break
                ep.turn(seg)
            return 1.0 if ep.completed else 0.0

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
        if spec["train_reward"] not in agentgym.TRAIN_REWARDS:
            raise ValueError(f"train_reward: expected one of {', '.join(agentgym.TRAIN_REWARDS)}, "
                             f"got {spec['train_reward']!r}")
        if spec.get("server") is not None and not isinstance(spec["server"], str):
            raise ValueError(f"server: expected a URL or null, got {spec['server']!r}")

    return Family(name=name, config=EnvConfig, build=build, parse=parse, score=score, check_spec=check_spec,
                  key=lambda row: f"{name}/{row['spec']['seed']}/{row['spec']['difficulty']}",
                  reads="final", episode=episode,
                  budget=1024)   # per model turn: a Thought paragraph and one Action line (AgentGym's agents)


BABYAI, TEXTCRAFT, SCIWORLD, WEBSHOP, ALFWORLD = (_family(n) for n in NAMES)
