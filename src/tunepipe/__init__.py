"""tunepipe: a reproducible DVC pipeline that fine-tunes language models (SFT, then GRPO)
on verifiable reasoning tasks and evaluates them the way the validators do."""

__version__ = "0.1.0"


class TunepipeError(Exception):
    """An error caused by bad input (params, files, rows). Stages print it as one line and exit 1."""
