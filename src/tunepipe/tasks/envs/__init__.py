"""AgentGym's five text environments under AgentGym's names, speaking its ``Thought:/Action:``
protocol: the real engines in-process (:mod:`.engines`: ``babyai`` on minigrid, ``textcraft`` on
minecraft-data's recipes, ``sciworld`` on ScienceWorld), the WebShop and ALFWorld simulators
(:mod:`.webshop`, :mod:`.alfworld`), AgentGym's episode semantics over any engine or server
(:mod:`.agentgym`) and a compatible server (:mod:`.server`)."""
from __future__ import annotations

import random
from typing import Callable

from .base import DEFAULT_KEEP, EnvConfig, EpisodeOver, format_turn, parse_action

__all__ = ["DEFAULT_KEEP", "EnvConfig", "EpisodeOver", "format_turn", "make", "oracle_turn", "parse_action",
           "random_turn", "run_episode"]


def make(name: str):
    """A fresh in-process engine ``name`` of :data:`.agentgym.ENGINES` (a missing optional
    dependency: a one-line :class:`~tunepipe.TunepipeError` naming the package)."""
    from .agentgym import engine_class
    return engine_class(name)()


Policy = Callable[["object"], str]


def oracle_turn(ep) -> str:
    """The oracle's next turn on an :class:`.agentgym.Episode`."""
    return ep.expert_turn()


def random_turn(rng: random.Random) -> Policy:
    """A uniformly random valid command per turn (:func:`.agentgym.random_turn`)."""
    from .agentgym import random_turn as turn
    first: list[str] = []

    def policy(ep):
        if not first:
            first.append(ep.observation)
        return turn(ep, rng, first[0])
    return policy


def run_episode(engine, policy: Policy, data_idx: int, max_rounds: int = 30) -> dict:
    """Play one :class:`.agentgym.Episode` of ``engine`` at ``data_idx`` with ``policy(ep) ->
    turn text``; the engine stays open (the caller closes it)."""
    from .agentgym import Episode
    ep = Episode(engine, engine.NAME, max_rounds=max_rounds)
    ep.reset(data_idx)
    while not ep.done:
        ep.turn(policy(ep))
    return {"success": ep.completed, "score": ep.final, "rounds": ep.rounds}
