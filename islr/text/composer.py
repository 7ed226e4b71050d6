"""The sentence composer: an ordered list of recognised signs (glosses) in, English out.

Backends:
- `t5`: FLAN-T5 (or any T5 checkpoint, e.g. one fine-tuned by `islr.text.finetune`)
  prompted with the seed study's template. The checkpoint is a local directory or a
  Hugging Face id: taken from the local cache when it is there, else downloaded into
  the cache on first use (with a progress bar), as every Hugging Face tool does.
  `offline: true` (`--offline`) or `HF_HUB_OFFLINE=1` keeps everything local.
- `plain`: no model; the glosses joined into a capitalised sentence. It is a labelled
  fallback a caller chooses explicitly (`backend: plain`, or `fallback: plain` for when
  the checkpoint is missing); every `Composition` says which backend made it.

Loaded models are cached per (resolved checkpoint, device), so an app that builds a
composer per request loads the weights once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from islr.text.config import Backend, ComposerConfig
from islr.text.errors import CheckpointDownloadError, CheckpointNotFoundError
from islr.text.glosses import check_glosses, plain_sentence

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
TOKENIZER_FILES = ("spiece.model", "tokenizer.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# What a download fetches: the config, the tokenizer and safetensors weights. A Hub
# repo such as google/flan-t5-base also holds the same weights for TF, Flax and as
# pytorch_model.bin, four times the bytes; those are fetched only when a repo has no
# safetensors.
DOWNLOAD_PATTERNS = [
    CONFIG_FILE,
    "generation_config.json",
    *TOKENIZER_FILES,
    "tokenizer_config.json",
    "special_tokens_map.json",
    "*.safetensors",
    "model.safetensors.index.json",
]


def hub_offline(offline: bool = False) -> bool:
    """True when nothing may be downloaded: asked for (`offline`) or `HF_HUB_OFFLINE`
    set, read at call time (huggingface_hub reads it only once, at import)."""
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return offline or flag in {"1", "ON", "YES", "TRUE"}


class Composition(BaseModel):
    """One composed sentence and where it came from."""

    sentence: str
    backend: Backend
    glosses: list[str]
    # The resolved checkpoint directory (t5 only).
    checkpoint: str | None = None
    # Why the fallback backend was used, when it was.
    fallback_reason: str | None = None


def _missing_files(directory: Path) -> list[str]:
    missing = []
    if not (directory / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not any((directory / f).is_file() for f in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    if not any((directory / f).is_file() for f in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    return missing


def resolve_checkpoint(
    checkpoint: str, cache_dir: str | None = None, offline: bool = False
) -> Path:
    """Turn a checkpoint (local directory or Hugging Face id) into a complete local
    directory, downloading a Hub id that is not in the cache unless `hub_offline`;
    else raise `CheckpointNotFoundError` (or `CheckpointDownloadError`).

    Resolution is done here rather than left to `from_pretrained`: with no files found,
    `T5Tokenizer.from_pretrained(id)` silently builds a default tokenizer with a
    ~100-token vocabulary, which would produce nonsense instead of an error.
    """
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        missing = _missing_files(path)
        if missing:
            raise CheckpointNotFoundError(
                checkpoint, f"directory {path} lacks {', '.join(missing)}"
            )
        return path.resolve()
    if path.exists():
        raise CheckpointNotFoundError(checkpoint, f"{path} is a file, not a directory")
    if checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") > 1:
        raise CheckpointNotFoundError(checkpoint, f"no directory {path.resolve()}")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    where = cache_dir or "the Hugging Face cache (HF_HOME)"
    try:
        # The cache first, without a request: a cached model loads with no network.
        snapshot = Path(snapshot_download(checkpoint, cache_dir=cache_dir, local_files_only=True))
        missing = _missing_files(snapshot)
    except HFValidationError as exc:
        raise CheckpointNotFoundError(
            checkpoint, f"neither a directory nor a valid Hugging Face id ({exc})"
        ) from exc
    except OSError:  # LocalEntryNotFoundError: not in the local cache
        snapshot, missing = None, ["everything"]
    if missing and hub_offline(offline):
        reason = (
            f"cached snapshot {snapshot} lacks {', '.join(missing)}"
            if snapshot
            else f"no directory of that name and not in {where}"
        )
        raise CheckpointNotFoundError(checkpoint, reason)
    if missing:
        snapshot = _download(checkpoint, cache_dir)
        missing = _missing_files(snapshot)
    if missing:
        raise CheckpointNotFoundError(
            checkpoint, f"cached snapshot {snapshot} lacks {', '.join(missing)}"
        )
    return snapshot


def _download(checkpoint: str, cache_dir: str | None) -> Path:
    """Download a Hub checkpoint into the cache (huggingface_hub's progress bars)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    log.info(
        "downloading %s into %s (first use; HF_HUB_OFFLINE=1 or --offline prevents this)",
        checkpoint,
        cache_dir or constants.HF_HUB_CACHE,
    )
    try:
        snapshot = Path(
            snapshot_download(
                checkpoint,
                cache_dir=cache_dir,
                local_files_only=False,
                allow_patterns=DOWNLOAD_PATTERNS,
            )
        )
        if not any((snapshot / f).is_file() for f in WEIGHT_FILES):
            snapshot = Path(
                snapshot_download(
                    checkpoint,
                    cache_dir=cache_dir,
                    local_files_only=False,
                    allow_patterns=["pytorch_model.bin"],
                )
            )
    except (OSError, HfHubHTTPError) as exc:  # requests' errors are OSErrors
        raise CheckpointDownloadError(checkpoint, constants.ENDPOINT, exc) from exc
    return snapshot


@dataclass(frozen=True)
class T5Bundle:
    """A loaded tokenizer and model, in eval mode, shared by every composer using them."""

    tokenizer: Any
    model: Any
    directory: Path


_CACHE: dict[tuple[str, str], T5Bundle] = {}
_CACHE_LOCK = threading.Lock()


def load_t5(directory: str | Path, device: str = "cpu") -> T5Bundle:
    """Load (once) a T5 tokenizer and model from a resolved local directory."""
    directory = Path(directory).resolve()
    key = (str(directory), device)
    with _CACHE_LOCK:
        bundle = _CACHE.get(key)
        if bundle is None:
            from transformers import T5ForConditionalGeneration, T5Tokenizer

            log.info("loading T5 composer from %s on %s", directory, device)
            tokenizer = T5Tokenizer.from_pretrained(directory, local_files_only=True)
            model = T5ForConditionalGeneration.from_pretrained(directory, local_files_only=True)
            model.to(device).eval()
            bundle = T5Bundle(tokenizer=tokenizer, model=model, directory=directory)
            _CACHE[key] = bundle
        return bundle


def clear_model_cache() -> None:
    """Forget loaded models (e.g. after a checkpoint directory was rewritten)."""
    with _CACHE_LOCK:
        _CACHE.clear()


class Composer:
    """Compose English sentences from glosses with the configured backend.

    Raises `CheckpointNotFoundError` at construction when the t5 backend is chosen, the
    checkpoint is missing and no fallback is configured.
    """

    def __init__(self, config: ComposerConfig | None = None) -> None:
        self.config = config or ComposerConfig()
        self.backend: Backend = self.config.backend
        self.fallback_reason: str | None = None
        self._bundle: T5Bundle | None = None
        if self.backend == "t5":
            try:
                directory = resolve_checkpoint(
                    self.config.checkpoint, self.config.cache_dir, self.config.offline
                )
            except CheckpointNotFoundError as exc:
                if self.config.fallback is None:
                    raise
                log.warning("using the %s backend: %s", self.config.fallback, exc)
                self.backend = self.config.fallback
                self.fallback_reason = str(exc)
            else:
                self._bundle = load_t5(directory, self.config.device)

    @property
    def checkpoint_dir(self) -> Path | None:
        return self._bundle.directory if self._bundle else None

    def compose(self, glosses: Sequence[str]) -> Composition:
        """One sentence for one ordered list of glosses (sign names of the 250-sign map)."""
        return self.compose_many([glosses])[0]

    def compose_many(
        self, sequences: Sequence[Sequence[str]], batch_size: int = 16
    ) -> list[Composition]:
        """Sentences for many gloss lists; the t5 backend generates in batches."""
        checked = [check_glosses(glosses) for glosses in sequences]
        if self._bundle is None:
            sentences = [plain_sentence(glosses) for glosses in checked]
        else:
            prompts = [self.config.prompt(glosses) for glosses in checked]
            sentences = []
            for start in range(0, len(prompts), batch_size):
                sentences += self._generate(prompts[start : start + batch_size])
        return [
            Composition(
                sentence=sentence,
                backend=self.backend,
                glosses=glosses,
                checkpoint=str(self.checkpoint_dir) if self._bundle else None,
                fallback_reason=self.fallback_reason,
            )
            for glosses, sentence in zip(checked, sentences, strict=True)
        ]

    def _generate(self, prompts: list[str]) -> list[str]:
        import torch

        assert self._bundle is not None
        tokenizer, model = self._bundle.tokenizer, self._bundle.model
        decoding = self.config.decoding
        inputs = tokenizer(
            prompts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.config.max_input_tokens,
        ).to(self.config.device)
        if decoding.do_sample:
            torch.manual_seed(decoding.seed)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                num_beams=decoding.num_beams,
                max_new_tokens=decoding.max_new_tokens,
                do_sample=decoding.do_sample,
            )
        return [s.strip() for s in tokenizer.batch_decode(output, skip_special_tokens=True)]


def compose(glosses: Sequence[str], config: ComposerConfig | None = None) -> Composition:
    """Convenience: one sentence with a composer built from `config` (models are cached)."""
    return Composer(config).compose(glosses)
