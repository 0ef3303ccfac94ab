"""Whole episodes in the text environments, batched: grpo's rollouts and evaluate's episodes.

Every active episode of a batch takes its next turn in one call (left-padded, lock-step), so a
batch of E episodes of T turns costs T calls, not E x T: ``prefix.decode`` (new tokens' keys and
values in preallocated buffers, an episode's keys and values carried to its next turn, which
then prefills only the observation) where it decodes as ``generate`` would, else ``generate``
(which prefills the whole episode every turn). An episode's
token sequence is built exactly as the SFT rows render it (harmony_convert): the prompt,
then per turn the model's tokens (its stop token included) and the environment's
observation wrapped by the chat format (``row["obs_wrap"]``: the text before and after an
observation, which closes the model's turn and opens the next). The model's tokens are
marked 1 in ``env_mask``, the environment's 0 (TRL leaves them out of the loss).

A turn's text (cut at the stop token, chat markup removed as the scorers see it) is played
as AgentGym's client plays it (:class:`tunepipe.tasks.envs.agentgym.Episode`: several
``Action:`` lines answered locally with an error and reward 0, no ``Action:`` sent as ``""``).
An episode ends when the environment says done (or its step limit) or when the next turn
would not fit in ``max_length`` tokens. Its ``reward`` is the training reward of its spec's
``train_reward`` (default ``success``: the engine's completion), ``validator_score`` the
validators' (the last turn's reported reward), ``success`` the engine's completion signal.
Every environment opened is closed, on errors too. Rows of single-turn tasks in the same batch get one generation of
``single_tokens`` tokens and no environment.

Budgets are per family (:func:`tunepipe.tasks.budget` of ``turn_tokens`` / ``single_tokens``:
an int, null or a mapping): the rows of a turn are batched by budget, so each row generates
with its own. A model turn that reaches its budget without a stop token is counted
(``turns_truncated``), not hidden.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tunepipe import tasks


@dataclass
class EpisodeArgs:
    turn_tokens: int | None | dict[str, int | None]   # new tokens per model turn (tasks.budget: per family)
    max_length: int | None    # prompt + whole episode, in tokens; null: the model's max_position_embeddings
    # tunepipe: the row's prompt and its own max_steps | agentgym: the validators' regime (their
    # conversation layout, at most AGENTGYM_ROUNDS rounds); evaluate only (grpo: tunepipe)
    layout: str = "tunepipe"

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout: expected one of {', '.join(LAYOUTS)}, got {self.layout!r}")


LAYOUTS = ("tunepipe", "agentgym")
#: the validators' round limit on environment episodes (affine/core/environments.py, max_round 30)
AGENTGYM_ROUNDS = 30


def layout_rows(rows: list[dict], layout: str) -> list[dict]:
    """``rows`` for an episode ``layout``: ``agentgym`` plays each from ``prompt_text_agentgym``
    (harmony_convert's rendering of AgentGym's conversation start: user = the instruction,
    assistant = the canned acknowledgement, user = the first observation) for at most
    :data:`AGENTGYM_ROUNDS` rounds."""
    if layout == "tunepipe":
        return rows
    out = []
    for r in rows:
        if "prompt_text_agentgym" not in r:
            from tunepipe import TunepipeError
            raise TunepipeError(f"episode.layout: agentgym: row {r.get('id', '?')} has no prompt_text_agentgym "
                                "(rerun collect and harmony_convert)")
        out.append({**r, "prompt_text": r["prompt_text_agentgym"],
                    "spec": {**r["spec"], "max_steps": AGENTGYM_ROUNDS}})
    return out


@dataclass
class _Run:
    row: dict
    prompt_ids: list[int]
    env: object = None
    wrap: tuple[str, str] = ("", "")
    completion_ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    reward: float = 0.0
    steps: int = 0
    success: bool = False
    done: bool = False
    truncated: bool = False
    turns: list[dict] = field(default_factory=list)
    budget: int = 0           # new tokens per generation (a turn, or a single-turn row's completion)
    cut: list[bool] = field(default_factory=list)   # per model turn: it hit the budget without a stop token
    kv: list | None = None    # prefix.decode's keys/values of the episode's first tokens (carried across turns)


def model_max_length(model, args: EpisodeArgs) -> int:
    if args.max_length is not None:
        return args.max_length
    return int(getattr(model.config, "max_position_embeddings", 0) or 4096)


def run(model, tokenizer, rows: list[dict], *, args: EpisodeArgs, gen_kwargs: dict, stop_ids: set[int],
        batch_size: int, single_tokens: int | None | dict[str, int | None] = 0, desc: str = "episodes", prompt_ids: list[list[int]] | None = None,
        progress: bool = True) -> list[dict]:
    """Run one episode per row (rows of multi-turn families) or one generation (other rows).

    ``gen_kwargs``: sampling settings for ``model.generate`` (``do_sample``, ``temperature``
    ...; ``max_new_tokens`` is set here). Returns per row ``prompt_ids``, ``completion_ids``,
    ``env_mask``, and for episodes ``reward`` (the spec's ``train_reward``), ``validator_score``,
    ``success``, ``steps``,
    ``truncated`` (cut by ``max_length``), ``turns_truncated`` (per model turn: cut by its
    budget), ``turns`` (``turn``, ``action``, ``observation``, ``reward``) and ``text`` (the
    whole episode decoded, specials kept)."""
    runs: list[_Run] = []
    try:
        return _run(model, tokenizer, rows, runs, args=args, gen_kwargs=gen_kwargs, stop_ids=stop_ids,
                    batch_size=batch_size, single_tokens=single_tokens, desc=desc, prompt_ids=prompt_ids,
                    progress=progress)
    finally:
        for r in runs:   # every environment opened is closed, on errors too
            if r.env is not None:
                r.env.close()


def _run(model, tokenizer, rows, runs, *, args, gen_kwargs, stop_ids, batch_size, single_tokens, desc, prompt_ids,
         progress) -> list[dict]:
    import itertools

    import torch
    from tqdm.auto import tqdm

    from tunepipe import generation, prefix
    from tunepipe.tasks.envs.agentgym import train_reward

    max_len = model_max_length(model, args)
    fast = prefix.decode_kwargs(gen_kwargs) if prefix.supported(model) else None   # else generate
    for i, row in enumerate(rows):
        ids = prompt_ids[i] if prompt_ids is not None else tokenizer(row["prompt_text"], add_special_tokens=False)["input_ids"]
        r = _Run(row=row, prompt_ids=list(ids))
        runs.append(r)
        family = tasks.get(row["task"])
        if family.episode is not None:
            r.env, _first = family.episode(row["spec"])
            r.wrap = tuple(row["obs_wrap"])
        r.budget = tasks.budget(row["task"], args.turn_tokens if r.env is not None else single_tokens)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    bar = tqdm(desc=desc, unit="turn", disable=not progress, total=None)
    while True:
        active = [r for r in runs if not r.done]
        if not active:
            break
        active.sort(key=lambda r: (r.budget, len(r.prompt_ids) + len(r.completion_ids)))
        chunks = []   # by budget, then by length
        for _b, same in itertools.groupby(active, key=lambda r: r.budget):
            same = list(same)
            chunks += [same[start : start + batch_size] for start in range(0, len(same), batch_size)]
        for chunk in chunks:
            seqs = [r.prompt_ids + r.completion_ids for r in chunk]
            want = chunk[0].budget
            room = max_len - max(len(s) for s in seqs)
            if room < 1:   # the longest no longer fits: end it, retry the rest next round
                for r, s in zip(chunk, seqs):
                    if len(s) >= max_len:
                        r.done = r.truncated = True
                continue
            width = max(len(s) for s in seqs)
            input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=device)
            attention = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=device)
            with torch.no_grad():
                if fast is not None:
                    kv = []
                    out = prefix.decode(model, input_ids, attention, rows=1, max_new_tokens=min(want, room),
                                        stop_ids=stop_ids, pad_id=pad, past=[r.kv for r in chunk], kv_out=kv, **fast)
                    for r, k in zip(chunk, kv):
                        r.kv = k   # the next turn prefills only its observation (and this turn's last token)
                else:
                    out = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=min(want, room),
                                         pad_token_id=pad, eos_token_id=sorted(stop_ids), **gen_kwargs)[:, width:]
            for r, gen in zip(chunk, out.tolist()):
                cut = next((j for j, t in enumerate(gen) if t in stop_ids), None)
                gen = gen[: cut + 1] if cut is not None else gen   # unfinished rows are never padded
                if r.env is not None:   # cut by the turn budget (not by max_length's room)
                    r.cut.append(generation.truncated(gen, stop_ids, r.budget))
                r.completion_ids += gen
                r.mask += [1] * len(gen)
                if r.env is None:
                    r.done = True
                    r.kv = None
                    continue
                _step(r, generation.decode(tokenizer, gen, stop_ids), tokenizer, max_len, args)
            bar.update(len(chunk))
    bar.close()
    out = []
    for r in runs:
        d = {"prompt_ids": r.prompt_ids, "completion_ids": r.completion_ids, "env_mask": r.mask}
        if r.env is not None:
            d.update(reward=train_reward(r.row["spec"].get("train_reward", "success"), r.env),
                     validator_score=r.env.final, success=bool(r.env.completed), steps=r.steps,
                     truncated=r.truncated, turns=r.turns, turns_truncated=r.cut,
                     text=tokenizer.decode(r.completion_ids, skip_special_tokens=False))
        out.append(d)
    return out


def _step(r: _Run, text: str, tokenizer, max_len: int, args: EpisodeArgs) -> None:
    """Play the model's turn ``text`` (AgentGym's client semantics); append the observation (or end)."""
    family = tasks.get(r.row["task"])
    observation, reward, done = r.env.turn(tasks.response_text(text, family.reads))
    r.steps += 1
    r.reward += float(reward)
    r.turns.append({"turn": text, "action": r.env.last_action, "observation": observation, "reward": reward})
    if done:
        r.done, r.success, r.kv = True, bool(r.env.completed), None
        return
    before, after = r.wrap
    env_ids = tokenizer(before + observation + after, add_special_tokens=False)["input_ids"]
    if len(r.prompt_ids) + len(r.completion_ids) + len(env_ids) + 1 > max_len:
        r.done = r.truncated = True   # no room for another turn
        r.kv = None
        return
    r.completion_ids += env_ids
    r.mask += [0] * len(env_ids)


def transcript(result: dict) -> str:
    """An episode as readable text: each model turn, then the environment's answer."""
    parts = []
    for t in result["turns"]:
        said = tasks.response_text(t["turn"], "final").strip().replace("\n", "\n  ")
        parts.append(f"> {said}\n< {t['observation']}  (reward {t['reward']:g})")
    return "\n".join(parts)
