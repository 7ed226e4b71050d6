"""The shipped (gloss sequence -> sentence) pairs and the BLEU/chrF scoring."""

from __future__ import annotations

import pandas as pd
import pytest

from islr.data.format import load_sign_map
from islr.text.errors import PairsFileError
from islr.text.metrics import score_sentences
from islr.text.pairs import PAIRS_COLUMNS, default_pairs_path, load_pairs, split_pairs


@pytest.fixture(scope="module")
def raw_pairs() -> pd.DataFrame:
    return pd.read_csv(default_pairs_path(), dtype=str, keep_default_na=False)


def test_shipped_pairs_use_only_sign_names(raw_pairs):
    signs = set(load_sign_map())
    assert list(raw_pairs.columns) == list(PAIRS_COLUMNS)
    sequences = raw_pairs["glosses"].str.split(" ")
    unknown = {g for seq in sequences for g in seq} - signs
    assert not unknown, f"glosses not in the sign map: {sorted(unknown)}"
    # exactly as in the map (case, no stray spaces), so no normalisation is needed
    assert load_pairs()["glosses"].tolist() == raw_pairs["glosses"].tolist()


def test_shipped_pairs_shape(raw_pairs):
    assert len(raw_pairs) >= 300
    lengths = raw_pairs["glosses"].str.split().str.len()
    assert lengths.between(2, 6).all()
    assert set(lengths) == {2, 3, 4, 5, 6}
    assert raw_pairs["glosses"].is_unique
    assert raw_pairs["sentence"].is_unique
    # sentences, not word lists: capitalised and punctuated
    assert raw_pairs["sentence"].str.match(r"^[A-Z]").all()
    assert raw_pairs["sentence"].str.contains(r"[.!?]$").all()
    # over the whole vocabulary
    used = {g for seq in raw_pairs["glosses"].str.split() for g in seq}
    assert len(used) == len(load_sign_map())


def test_shipped_split_is_about_80_20_and_disjoint():
    train, test = split_pairs(load_pairs())
    assert 0.15 <= len(test) / (len(train) + len(test)) <= 0.25
    assert not set(train["glosses"]) & set(test["glosses"])
    assert set(load_pairs()["split"]) == {"train", "test"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("glosses,sentence\nhello mom,Hi Mom.\n", "missing column"),
        ("glosses,sentence,split\nhello kangaroo,Hi.,train\n", "row 2, column glosses"),
        ("glosses,sentence,split\nhello mom,Hi.,dev\n", "row 2, column split: 'dev'"),
        ("glosses,sentence,split\nhello mom,,train\n", "row 2, column sentence: empty"),
    ],
)
def test_bad_pairs_file_names_row_and_column(tmp_path, text, problem):
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with pytest.raises(PairsFileError) as info:
        load_pairs(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_scores():
    refs = ["I like pizza.", "The dog is outside."]
    perfect = score_sentences(refs, refs)
    assert perfect.bleu == pytest.approx(100) and perfect.chrf == pytest.approx(100)
    close = score_sentences(["I like pizza.", "The dog is inside."], refs)
    far = score_sentences(["Yes.", "No."], refs)
    assert far.chrf < close.chrf < 100 and far.bleu < close.bleu < 100
    assert close.n == 2
    with pytest.raises(ValueError):
        score_sentences(["one"], refs)
