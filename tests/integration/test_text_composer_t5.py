"""The sentence composer's t5 backend on a tiny random-weight T5 (offline): composing,
the model cache, and the `islr translate` command."""

from __future__ import annotations

import shutil

import pytest
import text_fixtures
from text_fixtures import tiny_config

from islr import cli
from islr.text import Composer, GlossError
from islr.text.composer import load_t5

tiny_t5 = text_fixtures.tiny_t5  # the session's tiny checkpoint (fixture)


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
