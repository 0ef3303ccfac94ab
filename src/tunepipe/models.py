"""Base-model resolution and loading.

``base.model`` is one of:

- ``tiny``: a Qwen3-architecture model built from a config (random init, size in
  params) and a byte-level BPE tokenizer trained on the collected corpus, with the
  Harmony special tokens and a Harmony chat template;
- a local ``.gguf`` file: dequantised by transformers (``gguf_file=``) and re-saved as
  a plain HF directory (a GGUF-loaded model refuses ``save_pretrained``, so the weights
  are copied into a fresh model built from its config);
- a local HF model directory;
- an HF hub id: downloaded (needs the network) and saved.

Whatever the source, ``models/base`` ends up a plain HF directory that loads with
``AutoModelForCausalLM`` and ``AutoTokenizer``, so DVC caches it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError

# Pre-tokenizer for the tiny tokenizer: first the task families' atoms (Family.atoms: SAT's
# literal "¬x3" or assignment "x1=True", a decision's "[2]"), each one piece with no space or
# bracket attached, so BPE gives each ONE canonical token wherever it appears; then runs of
# operators and brackets with their spaces (" ∨ ", ") ∧ (") as pieces of their own, words,
# and whitespace. Tokenisation decides whether a tiny model learns SAT at all
# (docs/reference/validators.md: .23 vs .80 on the same budget).
GENERIC_SPLIT = r"[^\S\n]*[^\s\w¬]+(?:[^\S\n]+[^\s\w¬]+)*[^\S\n]*|[^\S\n]?\w+|\s+"


@dataclass
class TinyArgs:
    """``base.tiny``: the Qwen3-architecture model built from a config (``base.model: tiny``)."""
    vocab_size: int              # BPE vocabulary trained on the collected corpus
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int


@dataclass
class BaseArgs:
    """The ``base`` params section."""
    seed: int                    # every stage's seed
    model: str                   # tiny | an HF id | a local HF model dir | a .gguf file
    revision: str | None         # hub revision (commit / tag) for HF ids
    dtype: str                   # auto | float32 | bfloat16 | float16
    tiny: TinyArgs


def tiny_split(atoms=()) -> str:
    """The pre-tokenizer regex: ``atoms`` (tried first, in order), then :data:`GENERIC_SPLIT`."""
    return "|".join([*atoms, GENERIC_SPLIT])


def torch_dtype(name: str):
    """``auto``: bf16 on a GPU that supports it, else fp32; or a torch dtype name."""
    import torch

    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        dt = getattr(torch, name)
    except AttributeError:
        dt = None
    if not isinstance(dt, torch.dtype):
        raise TunepipeError(f"dtype: unknown dtype {name!r} (auto, float32, bfloat16, float16)")
    return dt


def train_tokenizer(texts: list[str], *, vocab_size: int, special_tokens: list[str], chat_template: str,
                    atoms=()):
    """Byte-level BPE trained on ``texts``; Harmony specials are single tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(tiny_split(atoms)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|return|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    fast.chat_template = chat_template
    return fast


def tiny_config(tiny: dict, *, vocab_size: int | None = None, eos_token_id=None, pad_token_id=None):
    """The Qwen3 config of ``base.tiny`` (``vocab_size``: the trained tokenizer's size; without it
    ``base.tiny.vocab_size``, as :mod:`tunepipe.plan` estimates before any tokenizer exists)."""
    from transformers import Qwen3Config

    heads = tiny["num_attention_heads"]
    return Qwen3Config(
        vocab_size=vocab_size or tiny["vocab_size"],
        hidden_size=tiny["hidden_size"],
        intermediate_size=tiny["intermediate_size"],
        num_hidden_layers=tiny["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=tiny["num_key_value_heads"],
        head_dim=tiny["hidden_size"] // heads,
        max_position_embeddings=tiny["max_position_embeddings"],
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )


def build_tiny(out_dir: str | Path, texts: list[str], *, seed: int, tiny: dict, atoms=()) -> None:
    """Random-init Qwen3 model + corpus-trained tokenizer, saved to ``out_dir``. ``atoms``:
    the pre-tokenizer's atoms, collected by the caller from the task registry
    (``Family.atoms``; the base stage takes those of the families in its corpus): this
    module imports nothing from :mod:`tunepipe.tasks`, whose reference family loads its
    reward model through it."""
    import torch
    from transformers import GenerationConfig, Qwen3ForCausalLM

    from tunepipe import harmony

    tokenizer = train_tokenizer(
        texts,
        vocab_size=tiny["vocab_size"],
        special_tokens=harmony.SPECIAL_TOKENS,
        chat_template=harmony.CHAT_TEMPLATE,
        atoms=atoms,
    )
    config = tiny_config(tiny, vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids(t) for t in ("<|return|>", "<|call|>", "<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _gguf_to_hf(path: Path, out_dir: Path, dtype) -> None:
    import copy
    import functools

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf
    except ImportError:
        raise TunepipeError("base.model is a .gguf file: install the 'gguf' package") from None
    # transformers maps tensor names module by module and builds gguf's name table (a pure
    # function of the architecture and depth, read only) once per module: 397 times for
    # SmolLM2-135M, 6 of the load's 20 s. Built once here, for this load only.
    table = gguf.get_tensor_name_map
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(table)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
    except Exception as e:  # corrupt / unsupported GGUF
        raise TunepipeError(f"{path}: cannot load GGUF file: {str(e).splitlines()[0][:200]}") from None
    finally:
        gguf.get_tensor_name_map = table
    # the loaded model's config, not AutoConfig(gguf_file=): each of those parses the whole file
    # again (SmolLM2-135M: 4.5 s of the stage's ~25 s)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = dtype
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config, dtype=dtype)
    fresh.load_state_dict(loaded.state_dict(), assign=True)
    fresh.tie_weights()
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out_dir)
    portable(tokenizer).save_pretrained(out_dir)


def resolve_base(model: str, out_dir: str | Path, *, dtype: str, revision: str | None, texts, seed: int, tiny: dict,
                 atoms=()) -> str:
    """Materialise ``base.model`` as a plain HF dir in ``out_dir``; returns the source kind."""
    out = Path(out_dir)
    if model == "tiny":
        build_tiny(out, texts, seed=seed, tiny=tiny, atoms=atoms)
        return "tiny"
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dt = torch_dtype(dtype)
    p = Path(model).expanduser()
    if model.endswith(".gguf"):
        if not p.is_file():
            raise TunepipeError(f"base.model: GGUF file {model} not found")
        _gguf_to_hf(p, out, dt)
        return "gguf"
    if p.exists() or model.startswith((".", "/", "~")):
        if not (p / "config.json").is_file():
            raise TunepipeError(f"base.model: {model} is not a model directory (no config.json)")
        source, kind, kw = str(p), "local", {}
    else:
        if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", model):
            raise TunepipeError(f"base.model: {model!r} is neither 'tiny', a local path, a .gguf file nor an HF id")
        source, kind, kw = model, "hub", {"revision": revision}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kw)
        quant = mxfp4_config(source, kw)
        extra = {}
        if quant:   # gpt-oss: train on bf16 weights (Mxfp4Config(dequantize=True)); export may restore the metadata
            from transformers import Mxfp4Config

            extra["quantization_config"] = Mxfp4Config(dequantize=True)
        loaded = AutoModelForCausalLM.from_pretrained(source, dtype=dt, **kw, **extra)
    except OSError as e:
        hint = " (offline? set HF_HUB_OFFLINE=0 and check the network, or use a local path)" if kind == "hub" else ""
        raise TunepipeError(f"base.model: cannot load {model!r}{hint}: {str(e).splitlines()[0][:200]}") from None
    loaded.save_pretrained(out)
    portable(tokenizer).save_pretrained(out)
    if quant:
        save_source_quantization(out, quant)
    return kind


#: beside models/base/config.json: the source checkpoint's MXFP4 quantization_config, which the
#: dequantized base no longer carries (export.keep_mxfp4_config copies it into the export)
SOURCE_QUANTIZATION = "source_quantization_config.json"


def mxfp4_config(source: str, kw: dict) -> dict | None:
    """The checkpoint's ``quantization_config`` when it is MXFP4 (gpt-oss), else None."""
    from transformers import AutoConfig

    q = getattr(AutoConfig.from_pretrained(source, **kw), "quantization_config", None)
    q = q if isinstance(q, dict) else (q.to_dict() if hasattr(q, "to_dict") else None)
    return q if q and str(q.get("quant_method", "")).lower().endswith("mxfp4") else None


def save_source_quantization(out: Path, quant: dict) -> None:
    """Keep the source's MXFP4 metadata beside the dequantized base, and drop any copy of it
    (or of the dequantize switch) from the saved config.json: reloading must not re-quantize."""
    import json

    (out / SOURCE_QUANTIZATION).write_text(json.dumps(quant, indent=2, sort_keys=True) + "\n")
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    if cfg.pop("quantization_config", None) is not None:
        cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def adapter_base(path: str | Path) -> str:
    return json.loads((Path(path) / "adapter_config.json").read_text())["base_model_name_or_path"]


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")

#: from_pretrained arguments that transformers keeps in ``init_kwargs`` and so writes into a saved
#: ``tokenizer_config.json``, though they say how the caller loaded it, not what it is
#: (``local_files_only`` follows ``HF_HUB_OFFLINE``): dropped, so outputs do not depend on the
#: environment (the same commit and params give byte-identical model dirs under `make repro` and
#: a plain `dvc repro`)
_LOAD_KWARGS = ("local_files_only", "cache_dir", "token", "use_auth_token", "force_download", "proxies")


def portable(tokenizer):
    """``tokenizer`` without the environment's loading arguments (:data:`_LOAD_KWARGS`)."""
    for k in _LOAD_KWARGS:
        tokenizer.init_kwargs.pop(k, None)
    return tokenizer


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    p = Path(path)
    if not p.is_dir():
        raise TunepipeError(f"{p}: model directory not found")
    src = Path(adapter_base(p)) if is_adapter(p) and not (p / "tokenizer_config.json").is_file() else p
    if src.is_dir() and not any((src / f).is_file() for f in TOKENIZER_FILES):
        # transformers would build an empty tokenizer from config.json alone (every text -> no ids)
        raise TunepipeError(f"{src}: no tokenizer files ({', '.join(TOKENIZER_FILES)}) in the model directory")
    tok = portable(AutoTokenizer.from_pretrained(str(src)))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path: str | Path, *, dtype: str = "auto", trainable_adapter: bool = False):
    """A full model dir, or a PEFT adapter dir (its base loaded from the adapter config)."""
    from transformers import AutoModelForCausalLM

    p = Path(path)
    if not p.is_dir():
        raise TunepipeError(f"{p}: model directory not found")
    dt = torch_dtype(dtype)
    if is_adapter(p):
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(adapter_base(p), dtype=dt)
        return PeftModel.from_pretrained(base, p, is_trainable=trainable_adapter)
    return AutoModelForCausalLM.from_pretrained(p, dtype=dt)
