"""The text protocol shared by the environments: AgentGym's client-side action parse, the
turn format, the per-env config and the :class:`TextEnv` base class (step bookkeeping,
invalid actions, step limit, once-per-subgoal shaped rewards)."""
from __future__ import annotations

import abc
import random
import re
from dataclasses import dataclass

#: AgentGym's kept characters (agentenv/envs/textcraft.py, babyai.py: ``[^A-Za-z0-9, ]+`` removed)
DEFAULT_KEEP = "A-Za-z0-9, "
# agentenv/envs/textcraft.py: re.findall(r"Action:\s*(.*?)(?=\n|$)", action, re.DOTALL)
_ACTION_RE = re.compile(r"Action:\s*(.*?)(?=\n|$)", re.DOTALL)


def parse_action(text, keep: str = DEFAULT_KEEP) -> str | None:
    """The command of a ``Thought:\\n...\\n\\nAction:\\n<command>`` turn, as AgentGym's
    TextCraft/BabyAI clients parse it: the first line after ``Action:``, characters outside
    the regex class ``[keep]`` removed, spaces collapsed. A trailing ``</s>`` is stripped
    first (the other clients do, with an off-by-one). None when ``text`` is not a str, has
    no ``Action:`` or more than one (AgentGym answers those with an error turn).
    Never raises."""
    try:
        if not isinstance(text, str):
            return None
        text = text.rstrip()
        if text.endswith("</s>"):
            text = text[: -len("</s>")]
        matches = _ACTION_RE.findall(text)
        if len(matches) != 1:
            return None
        action = re.sub(f"[^{keep}]+", "", matches[0])
        return " ".join(action.split()).strip()
    except Exception:  # a malformed keep class: nothing sensible to return
        return None


def format_turn(thought: str, action: str) -> str:
    """The turn AgentGym's clients expect."""
    return f"Thought:\n{thought}\n\nAction:\n{action}"


@dataclass
class EnvConfig:
    """One params section per environment (e.g. ``collect.craft``). No field has a default:
    params.yaml names every one (a missing key is an error, as in every section)."""

    difficulty: list[int]
    max_steps: int
    success_reward: float
    step_reward: float
    invalid_reward: float
    server: str | None
    train_reward: str   # success | score | score_dedup (agentgym.train_reward)

    def __post_init__(self):
        from tunepipe import TunepipeError
        d = self.difficulty
        if not (isinstance(d, (list, tuple)) and len(d) == 2 and all(isinstance(x, int) for x in d)
                and 1 <= d[0] <= d[1] <= 3):
            raise TunepipeError(f"env difficulty must be [min, max] with 1 <= min <= max <= 3, got {d!r}")
        if not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise TunepipeError(f"env max_steps must be a positive integer, got {self.max_steps!r}")
        self.difficulty = list(d)
        if self.train_reward not in ("success", "score", "score_dedup"):
            raise TunepipeError(f"env train_reward must be success, score or score_dedup, got {self.train_reward!r}")


LEVELS = (1, 2, 3)


def instance(data_idx: int, cfg: EnvConfig) -> tuple[int, int]:
    """(seed, difficulty) of an AgentGym ``data_idx`` when the request names no difficulty:
    the seed is the index, the difficulty cycles through ``cfg.difficulty``."""
    lo, hi = cfg.difficulty
    return int(data_idx), lo + int(data_idx) % (hi - lo + 1)


class EpisodeOver(RuntimeError):
    """``step`` was called on a finished episode (a programming error: call ``reset``)."""


class TextEnv(abc.ABC):
    """A small deterministic text environment. ``step`` on a finished episode raises
    :class:`EpisodeOver`; an invalid or empty command gets ``error_observation`` (or the
    env's specific error), ``invalid_reward``, and counts as a step. Subclasses implement
    ``_reset``, ``_step``, ``_subgoals``, ``_status``, ``valid_actions`` and ``expert``."""

    name: str = ""
    keep: str = DEFAULT_KEEP
    instruction: str = ""
    error_observation: str = "Nothing happens."

    def __init__(self, cfg: EnvConfig):
        self.cfg = cfg
        self.steps = 0
        self.total_reward = 0.0
        self.done = True
        self.success = False
        self.observation = ""
        self._reached: set = set()
        self.rewarded_subgoals: set = set()

    # --- public API ---------------------------------------------------------------------
    def reset(self, seed: int, difficulty: int) -> str:
        if difficulty not in LEVELS:
            raise ValueError(f"difficulty must be one of {LEVELS}, got {difficulty!r}")
        self.rng = random.Random(f"{self.name}/{seed}/{difficulty}")
        self.seed, self.difficulty = seed, difficulty
        self.steps, self.total_reward = 0, 0.0
        self.done, self.success = False, False
        self.rewarded_subgoals = set()
        self.observation = self._reset(self.rng, difficulty)
        self._reached = set(self._subgoals())  # nothing reached at the start is rewarded
        return self.observation

    def step(self, action: str | None) -> tuple[str, float, bool]:
        if self.done:
            raise EpisodeOver(f"{self.name}: the episode is over; call reset() first")
        self.steps += 1
        act = " ".join(action.lower().split()) if isinstance(action, str) else ""
        try:
            obs, ok = self._step(act) if act else (self.error_observation, False)
        except Exception as e:  # an env bug must not crash a rollout; surface it in the text
            obs, ok = f"{self.error_observation} ({type(e).__name__})", False
        reward = 0.0 if ok else float(self.cfg.invalid_reward)
        new = set(self._subgoals()) - self._reached
        self._reached |= new
        self.rewarded_subgoals |= new
        reward += self.cfg.step_reward * len(new)
        done, success, goal_reward = self._status()
        if done:
            reward += goal_reward
            self.success = success
        elif self.steps >= self.cfg.max_steps:
            done = True
        self.done = done
        self.total_reward += reward
        self.observation = obs
        return obs, reward, done

    @abc.abstractmethod
    def valid_actions(self) -> list[str]: ...

    @abc.abstractmethod
    def expert(self) -> tuple[str, str]: ...

    # --- subclass hooks -----------------------------------------------------------------
    @abc.abstractmethod
    def _reset(self, rng: random.Random, difficulty: int) -> str: ...

    @abc.abstractmethod
    def _step(self, action: str) -> tuple[str, bool]:
        """(observation, valid) for a lower-cased, space-normalised, non-empty command."""

    def _subgoals(self) -> set:
        """Subgoals reached so far (each is rewarded ``step_reward`` once)."""
        return set()

    @abc.abstractmethod
    def _status(self) -> tuple[bool, bool, float]:
        """(episode over, success, reward of reaching this end)."""
