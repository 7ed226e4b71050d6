"""From signs to a sentence: compose recognised glosses into English with T5.

Importing this package is cheap; torch and transformers load only when a T5 composer
is built. Main entry points: `Composer`, `ComposerConfig`, `compose`, `load_pairs`,
`evaluate_composer`, `finetune`.
"""

from islr.text.composer import Composer, Composition, clear_model_cache, compose
from islr.text.config import ComposerConfig, DecodingConfig, FinetuneConfig
from islr.text.errors import CheckpointNotFoundError, GlossError, PairsFileError

__all__ = [
    "CheckpointNotFoundError",
    "Composer",
    "ComposerConfig",
    "Composition",
    "DecodingConfig",
    "FinetuneConfig",
    "GlossError",
    "PairsFileError",
    "clear_model_cache",
    "compose",
]
