"""Supervised fine-tuning of a tiny T5 on the shipped pairs: it learns, it is seeded,
and the tuned checkpoint is complete."""

from __future__ import annotations

import json

import pytest
import text_fixtures
from text_fixtures import tiny_config
from transformers import T5Tokenizer

from islr.text import Composer, FinetuneConfig
from islr.text.finetune import TRAINING_FILE, finetune
from islr.text.metrics import evaluate_composer
from islr.text.pairs import load_pairs, split_pairs

tiny_t5 = text_fixtures.tiny_t5  # the session's tiny checkpoint (fixture)


@pytest.fixture(scope="module")
def pairs():
    return split_pairs(load_pairs())


def test_finetuning_improves_the_held_out_score(tiny_t5, pairs, tmp_path):
    train, test = pairs
    test = test.head(32)
    config = tiny_config(tiny_t5)
    before = evaluate_composer(Composer(config), test).scores
    training = FinetuneConfig(
        epochs=6, batch_size=16, learning_rate=3e-3, max_train_pairs=160, seed=1
    )
    losses = []
    tuned = finetune(
        train,
        tmp_path / "tuned",
        config,
        training,
        on_epoch_end=lambda epoch, loss: losses.append((epoch, loss)),
    )
    assert [e for e, _ in losses] == list(range(1, 7))
    assert tuned.epoch_losses[-1] < tuned.epoch_losses[0]
    assert tuned.n_train == 160 and tuned.steps == 6 * 10

    after_eval = evaluate_composer(
        Composer(config.model_copy(update={"checkpoint": tuned.directory})), test
    )
    after = after_eval.scores
    assert after.chrf > before.chrf + 2, (before, after)
    assert after.bleu >= before.bleu, (before, after)
    assert after_eval.backend == "t5" and after_eval.checkpoint.endswith("tuned")


def test_tuned_checkpoint_is_complete_and_seeded(tiny_t5, pairs, tmp_path):
    train, _ = pairs
    config = tiny_config(tiny_t5)
    training = FinetuneConfig(epochs=1, batch_size=8, max_train_pairs=16, seed=3)
    a = finetune(train, tmp_path / "a", config, training)
    b = finetune(train, tmp_path / "b", config, training)
    assert a.epoch_losses == b.epoch_losses  # same seed, same run
    out = tmp_path / "a"
    # save_pretrained keeps only tokenizer.json; the sentencepiece model is copied too
    assert (out / "spiece.model").is_file() and (out / "tokenizer.json").is_file()
    info = json.loads((out / TRAINING_FILE).read_text())
    assert info["base_checkpoint"] == str(tiny_t5) and info["n_train"] == 16
    assert len(T5Tokenizer.from_pretrained(out)) == len(T5Tokenizer.from_pretrained(tiny_t5))
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary folder left behind
    with pytest.raises(FileExistsError):
        finetune(train, out, config, training)
