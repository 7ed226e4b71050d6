"""Errors of the sentence composer: each says what is wrong and how to fix it."""

from __future__ import annotations

from islr.errors import IslrError


class CheckpointNotFoundError(IslrError):
    """The T5 checkpoint is neither a complete local directory nor in the local HF cache.

    Raised when nothing may be downloaded (offline) or the name is not a checkpoint;
    the message says how to bring the checkpoint onto this machine, and that the
    `plain` backend needs none.
    """

    def __init__(self, checkpoint: str, reason: str) -> None:
        self.checkpoint = checkpoint
        self.reason = reason
        super().__init__(
            f"T5 checkpoint {checkpoint!r} is not available offline: {reason}. "
            "With network access, drop --offline (config `offline`) and HF_HUB_OFFLINE=1 "
            "and it is downloaded on first use. Without it: on a connected machine run "
            "`hf download google/flan-t5-base` (`huggingface-cli download "
            "google/flan-t5-base` with huggingface_hub < 1.0) and copy the Hugging Face "
            "cache (HF_HOME) to this machine, or save a model with "
            "`T5ForConditionalGeneration.from_pretrained(...).save_pretrained(DIR)` and "
            "`T5Tokenizer.from_pretrained(...).save_pretrained(DIR)` and pass "
            "`--checkpoint DIR` (config field `checkpoint`). "
            "Or choose the plain backend (`--backend plain`), which joins the signs "
            "into a sentence without a model."
        )


class CheckpointDownloadError(IslrError):
    """Downloading a Hugging Face checkpoint failed (no network, unknown repo, ...)."""

    def __init__(self, checkpoint: str, endpoint: str, cause: BaseException) -> None:
        self.checkpoint = checkpoint
        detail = " ".join(str(cause).split())[:300] or type(cause).__name__
        super().__init__(
            f"T5 checkpoint {checkpoint!r}: download from {endpoint} failed "
            f"({type(cause).__name__}: {detail}). Check the network and the id, or "
            "pass --checkpoint DIR (a local copy), or --backend plain"
        )


class GlossError(IslrError):
    """The glosses given to the composer are empty or not sign names of the 250-sign map."""


class PairsFileError(IslrError):
    """The (gloss sequence -> sentence) pairs CSV is unreadable or breaks its contract."""

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        message = f"{self.path}: {problem}"
        if hint:
            message += f". {hint}"
        super().__init__(message)
