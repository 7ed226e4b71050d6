"""Fixtures of the composer tests: a tiny T5 checkpoint built once per test session.

Import the fixture into a test module (`from text_fixtures import tiny_t5`). The
checkpoint is memoised here, not by pytest, because each importing module gets its
own copy of the fixture and would otherwise build it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory) -> Path:
    """A random-weight T5 (d_model 32, 2 layers) with a sentencepiece vocabulary trained
    on the shipped pairs; read-only for tests (fine-tune into another folder)."""
    if "dir" not in _BUILT:
        from islr.text.tiny import make_tiny_t5

        _BUILT["dir"] = make_tiny_t5(tmp_path_factory.mktemp("tiny-t5") / "checkpoint", seed=0)
    return _BUILT["dir"]


def tiny_config(checkpoint: Path | str, **update):
    """A composer config for the tiny model: greedy and short, to keep tests fast."""
    from islr.text.config import ComposerConfig, DecodingConfig

    fields = {"decoding": DecodingConfig(num_beams=1, max_new_tokens=16), **update}
    return ComposerConfig(checkpoint=str(checkpoint), **fields)
