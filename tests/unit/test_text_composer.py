"""The sentence composer: config, gloss checks, plain and t5 backends, missing
checkpoints, model cache, and the `islr translate` command (tiny T5, offline)."""

from __future__ import annotations

import shutil

import pytest
import text_fixtures
from text_fixtures import tiny_config

from islr import cli
from islr.errors import ConfigError, IslrError
from islr.text import (
    CheckpointNotFoundError,
    Composer,
    ComposerConfig,
    GlossError,
    compose,
)
from islr.text.composer import load_t5
from islr.text.config import DEFAULT_PROMPT
from islr.text.glosses import check_glosses, plain_sentence

tiny_t5 = text_fixtures.tiny_t5  # the session's tiny checkpoint (fixture)

SEED_PROMPT = (
    "Here are a sequence of words obtained from a sign language recognition model. Take "
    "this sequence of words and output a plausible sentence in natural English that the "
    "user could possibly be trying to communicate: {keywords}"
)


def test_default_config_is_the_seed_study(repo_root):
    config = ComposerConfig()
    assert config.prompt_template == SEED_PROMPT == DEFAULT_PROMPT
    assert config.checkpoint == "google/flan-t5-base"
    assert config.decoding.do_sample is False
    assert config.prompt(["hello", "mom"]).endswith("communicate: hello mom")
    # the shipped YAML spells out the same defaults
    assert ComposerConfig.from_yaml(repo_root / "configs/composer.yaml") == config


def test_bad_config_is_refused_with_the_field(tmp_path):
    path = tmp_path / "composer.yaml"
    path.write_text("prompt_template: 'Make a sentence from {words}'\n")
    with pytest.raises(ConfigError, match=r"composer.yaml.*prompt_template.*\{keywords\}"):
        ComposerConfig.from_yaml(path)
    path.write_text("decoding: {num_beams: 0}\n")
    with pytest.raises(ConfigError, match=r"decoding\.num_beams"):
        ComposerConfig.from_yaml(path)
    path.write_text("beams: 3\n")
    with pytest.raises(ConfigError, match="beams"):
        ComposerConfig.from_yaml(path)


def test_glosses_are_checked_against_the_sign_map():
    assert check_glosses(["hello", "tv", " thankyou "]) == ["hello", "TV", "thankyou"]
    with pytest.raises(GlossError) as info:
        check_glosses(["hello", "thanks", "helo", "xyzzy"])
    message = str(info.value)
    assert "'thanks'" in message and "'helo'" in message and "'xyzzy'" in message
    assert "'hello'" not in message.split("map:")[1].split("(did")[0]
    assert "did you mean hello" in message
    assert isinstance(info.value, IslrError)
    with pytest.raises(GlossError, match="no glosses"):
        check_glosses([" ", ""])


def test_plain_backend_needs_no_checkpoint(tmp_path):
    config = ComposerConfig(backend="plain", checkpoint=str(tmp_path / "absent"))
    result = compose(["hello", "thankyou"], config)
    assert result.backend == "plain"
    assert result.sentence == "Hello thank you."
    assert result.checkpoint is None
    assert plain_sentence(["TV", "noisy"]) == "TV noisy."


@pytest.mark.parametrize("kind", ["missing_dir", "incomplete_dir", "uncached_id"])
def test_missing_checkpoint_is_a_clear_error(kind, tmp_path):
    if kind == "missing_dir":
        config = ComposerConfig(checkpoint=str(tmp_path / "absent"))
        detail = "no directory"
    elif kind == "incomplete_dir":
        (tmp_path / "ckpt").mkdir()
        (tmp_path / "ckpt" / "config.json").write_text("{}")
        config = ComposerConfig(checkpoint=str(tmp_path / "ckpt"))
        detail = "lacks spiece.model or tokenizer.json"
    else:
        # an empty cache: the id must not be fetched, only looked up
        config = ComposerConfig(cache_dir=str(tmp_path / "hf-cache"))
        detail = "not in"
    with pytest.raises(CheckpointNotFoundError) as info:
        Composer(config)
    message = str(info.value)
    assert isinstance(info.value, IslrError)
    assert detail in message
    assert "hf download google/flan-t5-base" in message
    assert "huggingface-cli download google/flan-t5-base" in message
    assert "--checkpoint DIR" in message and "--backend plain" in message


def test_fallback_is_explicit_and_labelled(tmp_path):
    config = ComposerConfig(checkpoint=str(tmp_path / "absent"), fallback="plain")
    result = Composer(config).compose(["dog", "outside"])
    assert result.backend == "plain"
    assert result.sentence == "Dog outside."
    assert "not available offline" in result.fallback_reason


def test_t5_backend_with_a_tiny_checkpoint(tiny_t5):
    composer = Composer(tiny_config(tiny_t5))
    first = composer.compose(["hello", "tv"])
    assert first.backend == "t5"
    assert first.glosses == ["hello", "TV"]
    assert first.checkpoint == str(tiny_t5.resolve())
    assert first.fallback_reason is None
    assert isinstance(first.sentence, str)  # random weights: any text, even none
    # no sampling: the same glosses give the same sentence
    assert composer.compose(["hello", "tv"]).sentence == first.sentence
    many = composer.compose_many([["hello", "tv"], ["dog", "outside"], ["go", "home"]])
    assert [r.glosses for r in many] == [["hello", "TV"], ["dog", "outside"], ["go", "home"]]
    with pytest.raises(GlossError, match="'kangaroo'"):
        composer.compose(["hello", "kangaroo"])


def test_model_is_loaded_once_per_checkpoint(tiny_t5, tmp_path):
    a = Composer(tiny_config(tiny_t5))
    b = Composer(tiny_config(tiny_t5, decoding={"num_beams": 2, "max_new_tokens": 8}))
    assert a._bundle.model is b._bundle.model
    assert load_t5(tiny_t5) is a._bundle
    copy = shutil.copytree(tiny_t5, tmp_path / "copy")
    assert Composer(tiny_config(copy))._bundle.model is not a._bundle.model


def test_translate_command(capsys, tiny_t5, tmp_path):
    assert cli.main(["translate", "hello", "thankyou", "--backend", "plain"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["Hello thank you.", "backend: plain"]

    assert cli.main(["translate", "hello", "tv", "--checkpoint", str(tiny_t5)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].startswith("backend: t5")

    absent = tmp_path / "absent"
    code = cli.main(["translate", "hello", "--backend", "t5", "--checkpoint", str(absent)])
    err = capsys.readouterr().err
    assert code != 0
    assert "not available offline" in err and "--checkpoint DIR" in err

    code = cli.main(["translate", "hello", "kangaroo", "wombat", "--backend", "plain"])
    err = capsys.readouterr().err
    assert code != 0
    assert "'kangaroo'" in err and "'wombat'" in err
