"""Configuration of the sentence composer and of its fine-tuning, validated by pydantic.

Both load from YAML (`configs/composer.yaml`, the `composer:` and `training:` blocks of
`configs/composer_finetune.yaml`), so a user changes the prompt, checkpoint or decoding
without touching code.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from islr.errors import ConfigError, field_problems

# The seed study's prompt, kept word for word (including its grammar) so that zero-shot
# results stay comparable with it.
DEFAULT_PROMPT = (
    "Here are a sequence of words obtained from a sign language recognition model. "
    "Take this sequence of words and output a plausible sentence in natural English "
    "that the user could possibly be trying to communicate: {keywords}"
)
DEFAULT_CHECKPOINT = "google/flan-t5-base"

Backend = Literal["t5", "plain"]


class DecodingConfig(BaseModel):
    """How `generate` decodes. No sampling by default, so a sentence is reproducible."""

    model_config = ConfigDict(extra="forbid")

    num_beams: int = Field(4, ge=1)
    max_new_tokens: int = Field(48, ge=1)
    do_sample: bool = False
    # Only used when sampling; seeds torch before each generate call.
    seed: int = 0


class ComposerConfig(BaseModel):
    """Which backend makes the sentence, from which checkpoint, with which prompt."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend = "t5"
    # A local directory, or a Hugging Face id: from the local cache, else downloaded
    # into it on first use unless `offline` (or HF_HUB_OFFLINE=1).
    checkpoint: str = DEFAULT_CHECKPOINT
    offline: bool = False
    prompt_template: str = DEFAULT_PROMPT
    decoding: DecodingConfig = Field(default_factory=DecodingConfig)
    # An explicit, labelled fallback: when set, a missing checkpoint makes the composer
    # use this backend (and say so in every result) instead of raising.
    fallback: Literal["plain"] | None = None
    device: str = "cpu"
    # Where Hugging Face ids are looked up; None = the default cache (HF_HOME).
    cache_dir: str | None = None
    max_input_tokens: int = Field(256, ge=8)

    @field_validator("prompt_template")
    @classmethod
    def _has_keywords_only(cls, value: str) -> str:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if fields != {"keywords"}:
            raise ValueError(
                "prompt_template must contain the placeholder {keywords} and no other "
                f"placeholders (found: {sorted(fields) or 'none'})"
            )
        return value

    def prompt(self, glosses: list[str]) -> str:
        """The model input for an ordered list of glosses."""
        return self.prompt_template.format(keywords=" ".join(glosses))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ComposerConfig:
        return load_yaml_model(cls, path)


class FinetuneConfig(BaseModel):
    """Supervised fine-tuning on (gloss sequence -> sentence) pairs; CPU friendly."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(3, ge=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_source_tokens: int = Field(128, ge=8)
    max_target_tokens: int = Field(48, ge=4)
    seed: int = 42
    # Train on the first N training pairs only (quick runs); None = all.
    max_train_pairs: int | None = Field(None, ge=1)
    # torch intra-op threads; None leaves torch's default.
    threads: int | None = Field(None, ge=1)


def load_yaml_model(model: type[Any], path: str | os.PathLike[str]) -> Any:
    """Read a YAML mapping into a pydantic model, failing with the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid {model.__name__}: {field_problems(exc)}") from exc
