"""The task protocol: what the pipeline needs of a task family, declared in one place.

A family is one module in ``tunepipe.tasks`` that ends with ``FAMILY = Family(...)`` and is
registered by one line in :data:`tunepipe.tasks.REGISTRY`. Every stage reaches a family
only through this record, so nothing task-specific lives outside the family's module:

==================  ========  ==================================================================
field               required  what it is
==================  ========  ==================================================================
``name``            yes       the task name rows carry (``row["task"]``) and params use
``config``          yes       a dataclass: the params section ``collect.<name>``, checked by
                              :func:`tunepipe.config.typed` (missing / unknown / wrong type:
                              a one-line error)
``build``           yes       ``build(n, rng, cfg, request) -> rows``: up to ``n`` rows of the
                              split ``request.split``; generated families draw from ``rng``,
                              loaded ones read their source (see :class:`BuildRequest`)
``parse``           yes       ``parse(text, spec) -> answer | None``; never raises
``score``           yes       ``score(text, spec) -> float in [0, 1] | None`` (None = invalid,
                              masked by GRPO, counted 0 by evaluate); never raises
``check_spec``      yes       ``check_spec(spec)`` raises ``ValueError("<field>: ...")`` for a
                              spec a scorer cannot use (bad input, not a bad completion)
``key``             no        identity of an instance (train and test never share one);
                              default: the spec as canonical JSON
``score_many``      no        batch form of ``score`` (ABD/DED: programs in parallel)
``solved``          no        ``solved(score, spec) -> bool``: counts for the success rate and
                              pass@k; default ``score >= 1.0``. Graded families override it
``shaping``         no        ``{name: fn(text, spec) -> float}``: training-only reward terms
                              added to the score (``grpo.reward: strict+<name>``), never
                              reported as accuracy; a term's weight is the family's own
                              reward param, put in the train specs by its ``reward`` hook
``reads``           no        which part of a Harmony completion the scorer sees: ``all``
                              (analysis + final, as the Affine validators read it) or
                              ``final`` (the final channel only)
``split_group``     no        families drawn with one seed per split share this group name
                              (ABD and DED: one shuffle of one source)
``source_key``      no        ``source_key(row) -> str``: train rows never come from a source
                              of a test row (held-out programs)
``loaded``          no        ``loaded(cfg) -> bool``: True when this config reads its rows
                              from a source as given: ``build`` then returns the whole split
                              at once, and counts are caps (``null``: every row)
``atoms``           no        regexes of text pieces the tiny tokenizer keeps whole
                              (SAT: ``¬x3``, ``x1=True``)
``reward_config``   no        a dataclass: the params section ``reward.<name>``, the family's
                              reward-stage settings (decision: ``tau``, ``normalize``;
                              reference: ``metric``, ``rm``, ``selection``; SAT: the
                              shaping weight), typed like ``config``; its own checks go in
                              ``__post_init__`` (``ValueError("<field>: ...")``)
``reward``          no        ``reward(rows, cfg, split) -> rows``: the reward stage's
                              transform of this family's rows of one split, given the typed
                              ``reward_config`` (decision: Boltzmann rewards from Q-values at
                              ``reward.decision.tau``); a spec field it cannot use is a
                              ``ValueError("<field>: ...")``
``select``          no        ``select(rows, cfg, request) -> (rows, records | None)``: the
                              reward stage's selection of this family's TRAIN rows (reference:
                              BLEUBERI's difficulty selection by the base model's scores,
                              ``request`` a :class:`SelectRequest`); ``records`` (one per
                              candidate) go to ``data/reward/<name>_selection.jsonl``
``reward_table``    no        ``reward_table(rows) -> (columns, records)``: the reward stage
                              also writes ``data/reward/<name>.csv`` (decision: the rewarded
                              rows with ``reward_action_*`` columns)
``metrics``         no        ``metrics(answers, specs, level) -> dict``: extra per-task
                              evaluation numbers from parsed answers (decision: regret)
``headline``        no        the key of the family's greedy evaluation results that leads
                              ``metrics/summary.json`` (default ``accuracy``; decision:
                              ``best_action_rate``, from its ``metrics``): a number that means
                              the same across every param a user sweeps
``to_service``      no        ``to_service(row) -> dict``: the row's entry in the training
                              service's GRPO ``env`` (docs/reference/validators.md); families without it are not
                              publishable in that shape
``from_service``    no        ``from_service(env_value) -> spec``: the inverse, for imported
                              evaluation logs in the service shape
``budget``          no        the family's own generation budget, in new tokens: of a whole
                              completion (single-turn), of one model turn (``episode``
                              families). A params budget that is null, or a mapping that
                              leaves the family out, takes it (``evaluate.max_new_tokens``,
                              ``grpo.max_completion_length``, ``*.episode.turn_tokens``).
                              Sized for real models, thinking ones included; default
                              :data:`DEFAULT_BUDGET`
``episode``         no        multi-turn families (text environments): ``episode(spec) ->
                              (env, first observation)``, the instance reset; rows then carry
                              ``turns`` (the expert episode after the first turn) and
                              :mod:`tunepipe.episodes` runs whole episodes for grpo and
                              evaluate. ``score`` replays every ``Action:`` of a transcript
==================  ========  ==================================================================

Every optional part has a declared default: callers never probe a module with ``hasattr``.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


#: a family's budget when it declares none (families of your own): new tokens of a completion,
#: or of one turn of a multi-turn family. Room for a thinking model (Qwen3, gpt-oss at low
#: effort) to reason a few paragraphs and answer; a model that stops earlier costs nothing more.
DEFAULT_BUDGET = 4096


@dataclass(frozen=True)
class BuildRequest:
    """What ``collect`` asks of a family's ``build`` besides ``n``, ``rng`` and the config."""
    split: str                                   # "train" | "test"
    seed: int                                    # base.seed (loaded families split by hash, not rng)
    exclude: frozenset = frozenset()             # source keys of held-out rows (train only)
    where: str = "params.yaml"                   # for error messages
    start: int = 0                               # rows this family already built in this split (a
                                                 # later call of a draw that asks again): index of
                                                 # the first row this call builds


@dataclass(frozen=True)
class SelectRequest:
    """What the reward stage gives a family's ``select`` besides its rows and config."""
    base: str                                    # the base model dir (models/base)
    seed: int                                    # base.seed


def field_error(prefix: str, e: Exception) -> str:
    """``"<prefix>.<field>': <what>"`` from a ``ValueError("<field>: <what>")``, for messages
    like ``row 3: field 'spec.clauses': expected a list``."""
    fld, _, what = str(e).partition(": ")
    return f"field '{prefix}.{fld}': {what}" if what else f"field '{prefix}': {e}"


def _spec_key(row: dict) -> str:
    return json.dumps(row["spec"], sort_keys=True)


def _solved_if_one(score: float | None, spec: dict) -> bool:
    return score is not None and score >= 1.0


@dataclass(frozen=True)
class Family:
    name: str
    config: type
    build: Callable[[int | None, random.Random, Any, BuildRequest], list[dict]]
    parse: Callable[[str, dict], Any]
    score: Callable[[str, dict], float | None]
    check_spec: Callable[[dict], None]
    key: Callable[[dict], str] = _spec_key
    score_many: Callable[[list[str], list[dict]], list] | None = None
    solved: Callable[[float | None, dict], bool] = _solved_if_one
    shaping: Mapping[str, Callable[[str, dict], float]] = field(default_factory=dict)
    reads: str = "all"
    split_group: str | None = None
    source_key: Callable[[dict], str] | None = None
    loaded: Callable[[Any], bool] | None = None
    atoms: tuple[str, ...] = ()
    reward_config: type | None = None
    reward: Callable[[list[dict], Any, str], list[dict]] | None = None
    select: Callable[[list[dict], Any, "SelectRequest"], tuple[list[dict], list[dict] | None]] | None = None
    reward_table: Callable[[list[dict]], tuple[list[str], list[dict]]] | None = None
    metrics: Callable[[list, list[dict], float], dict] | None = None
    headline: str = "accuracy"
    to_service: Callable[[dict], dict] | None = None
    from_service: Callable[[Any], dict] | None = None
    episode: Callable[[dict], tuple[Any, str]] | None = None
    budget: int = DEFAULT_BUDGET

    def __post_init__(self):
        if self.reads not in ("all", "final"):
            raise ValueError(f"task {self.name}: reads must be 'all' or 'final', got {self.reads!r}")
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ValueError(f"task {self.name}: budget must be an int >= 1, got {self.budget!r}")
