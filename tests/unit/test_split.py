"""Participant-grouped, label-stratified folds."""

import numpy as np
import pandas as pd
import pytest

from islr.data.split import SplitConfig, assign_folds, manifest_hash
from islr.errors import ConfigError


def table(n_participants=12, n_signs=10, per=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = [
        {
            "participant_id": 1000 + p,
            "sequence_id": int(rng.integers(1, 2**31)),
            "label": s,
            "sign": f"s{s}",
            "path": "x",
        }
        for p in range(n_participants)
        for s in range(n_signs)
        for _ in range(per)
    ]
    return pd.DataFrame(rows).drop_duplicates("sequence_id")


def test_grouped_split_never_shares_a_participant():
    manifest = assign_folds(table(), SplitConfig(n_folds=4, eval_fold=1, seed=3))
    owners = manifest.groupby("participant_id")["split"].nunique()
    assert (owners == 1).all()
    assert manifest.groupby("participant_id")["fold"].nunique().eq(1).all()
    assert set(manifest["split"]) == {"train", "val", "test"}
    assert set(manifest.loc[manifest["split"] != "train", "fold"]) == {1}
    assert sorted(manifest["fold"].unique()) == [0, 1, 2, 3]


def test_grouped_split_is_stratified_and_deterministic():
    a = assign_folds(table(), SplitConfig(seed=5))
    b = assign_folds(table().sample(frac=1, random_state=1), SplitConfig(seed=5))
    assert manifest_hash(a) == manifest_hash(b)  # independent of train.csv order
    assert manifest_hash(a) != manifest_hash(assign_folds(table(), SplitConfig(seed=6)))
    # every sign appears in every fold (12 participants, each signs all 10 signs)
    assert (a.groupby("fold")["label"].nunique() == 10).all()


def test_random_mode_mixes_participants():
    manifest = assign_folds(table(), SplitConfig(mode="random", seed=0))
    shared = manifest.groupby("participant_id")["split"].nunique()
    assert (shared > 1).any()
    assert manifest["split"].value_counts()["train"] == pytest.approx(0.75 * len(manifest), 0.1)


def test_too_few_participants_is_a_clear_error():
    with pytest.raises(ConfigError, match="needs at least 5 participants"):
        assign_folds(table(n_participants=4), SplitConfig(n_folds=4))


def test_eval_fold_must_exist():
    with pytest.raises(ValueError, match="eval_fold 4 must be < n_folds 4"):
        SplitConfig(n_folds=4, eval_fold=4)


def test_named_mode_puts_the_named_signers_in_val_and_test():
    data = table(n_participants=6)
    config = SplitConfig(
        mode="named", n_folds=3, val_participants=[1001], test_participants=[1004, 1005]
    )
    manifest = assign_folds(data, config)
    by_signer = manifest.groupby("participant_id")["split"].agg(set).to_dict()
    assert by_signer == {
        1000: {"train"},
        1001: {"val"},
        1002: {"train"},
        1003: {"train"},
        1004: {"test"},
        1005: {"test"},
    }
    # the evaluation fold holds val and test; training signers fill folds 1 and 2, each
    # signer in one fold
    assert set(manifest.loc[manifest["split"] != "train", "fold"]) == {0}
    train = manifest[manifest["split"] == "train"]
    assert set(train["fold"]) == {1, 2}
    assert train.groupby("participant_id")["fold"].nunique().eq(1).all()


def test_named_mode_without_validation_signers():
    manifest = assign_folds(
        table(n_participants=6), SplitConfig(mode="named", test_participants=[1000, 1003])
    )
    assert set(manifest["split"]) == {"train", "test"}
    assert set(manifest.loc[manifest["split"] == "test", "participant_id"]) == {1000, 1003}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "named"}, "needs test_participants"),
        ({"mode": "named", "val_participants": [1], "test_participants": [1]}, "in both"),
        ({"mode": "grouped", "test_participants": [1]}, "need mode: named"),
    ],
)
def test_named_mode_config_errors(values, message):
    with pytest.raises(ValueError, match=message):
        SplitConfig(**values)


def test_named_mode_names_a_signer_the_data_lacks():
    config = SplitConfig(mode="named", test_participants=[1000, 4242])
    with pytest.raises(ConfigError, match=r"\[4242\].*no valid recording"):
        assign_folds(table(n_participants=4), config)


def test_every_fold_is_halved_by_participant_for_cross_validation():
    from islr.data.split import evaluable_folds

    config = SplitConfig(n_folds=4, eval_fold=2, seed=3)
    manifest = assign_folds(table(), config)
    assert evaluable_folds(manifest) == [0, 1, 2, 3]
    for _fold, part in manifest.groupby("fold"):
        # a participant sits in one half only, and both halves are there
        assert part.groupby("participant_id")["half"].nunique().eq(1).all()
        assert set(part["half"]) == {"val", "test"}
    # the configured fold's halves are its validation and test splits
    evaluated = manifest[manifest["fold"] == 2]
    assert (evaluated["split"] == evaluated["half"]).all()
    assert (manifest.loc[manifest["fold"] != 2, "split"] == "train").all()
    # making fold 0 the evaluated one gives the same halves as cross-validation's fold 0
    other = assign_folds(table(), SplitConfig(n_folds=4, eval_fold=0, seed=3))
    assert other["half"].tolist() == manifest["half"].tolist()
    fold0 = other[other["fold"] == 0]
    assert (fold0["split"] == fold0["half"]).all()


def test_a_fold_of_one_participant_cannot_be_evaluated():
    from islr.data.split import evaluable_folds

    # 5 participants in 4 folds: three folds hold one participant each
    manifest = assign_folds(table(n_participants=5), SplitConfig(n_folds=4, seed=0))
    sizes = manifest.groupby("fold")["participant_id"].nunique()
    assert evaluable_folds(manifest) == sorted(int(k) for k in sizes[sizes >= 2].index)
    assert len(evaluable_folds(manifest)) == 1
