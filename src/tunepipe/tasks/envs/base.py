"""The text protocol shared by the environments: AgentGym's client-side action parse, the
turn format and the per-env config."""
from __future__ import annotations

import re
from dataclasses import dataclass

#: AgentGym's kept characters (agentenv/envs/textcraft.py, babyai.py: ``[^A-Za-z0-9, ]+`` removed)
DEFAULT_KEEP = "A-Za-z0-9, "
# agentenv/envs/textcraft.py: re.findall(r"Action:\s*(.*?)(?=\n|$)", action, re.DOTALL)
_ACTION_RE = re.compile(r"Action:\s*(.*?)(?=\n|$)", re.DOTALL)
#: GRPO's episode rewards (``collect.<env>.train_reward``; :func:`.agentgym.train_reward`)
TRAIN_REWARDS = ("success", "score", "score_dedup")


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
    """One params section per environment (e.g. ``collect.babyai``). No field has a default:
    params.yaml names every one (a missing key is an error, as in every section)."""

    difficulty: list[int]
    max_steps: int
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
        if self.train_reward not in TRAIN_REWARDS:
            raise TunepipeError(f"env train_reward must be {', '.join(TRAIN_REWARDS[:-1])} or {TRAIN_REWARDS[-1]}, "
                                f"got {self.train_reward!r}")


class EpisodeOver(RuntimeError):
    """``step`` was called on a finished episode (a programming error: call ``reset``)."""
