"""(gloss sequence -> sentence) pairs for supervised fine-tuning and evaluation.

The CSV has columns `glosses` (space-separated sign names of the 250-sign map),
`sentence` (the English the signer meant) and `split` (`train` or `test`). The shipped
set, `islr/resources/gloss_sentences.csv`, is hand-written over the whole vocabulary.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import pandas as pd

from islr.text.errors import GlossError, PairsFileError
from islr.text.glosses import check_glosses

PAIRS_NAME = "gloss_sentences.csv"
PAIRS_COLUMNS: tuple[str, ...] = ("glosses", "sentence", "split")
SPLITS: tuple[str, ...] = ("train", "test")


def default_pairs_path() -> Path:
    """The shipped pairs file inside the installed package."""
    return Path(str(resources.files("islr.resources").joinpath(PAIRS_NAME)))


def load_pairs(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read and check a pairs CSV; glosses come back as canonical sign names.

    Raises `PairsFileError` naming the file, row (1-based, header = row 1), column and
    value of the first problem found.
    """
    path = Path(path) if path is not None else default_pairs_path()
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PairsFileError(str(path), f"cannot read CSV ({exc})") from exc
    missing = [c for c in PAIRS_COLUMNS if c not in df.columns]
    if missing:
        raise PairsFileError(
            str(path),
            f"missing column(s) {missing} (found {list(df.columns)})",
            f"expected columns {list(PAIRS_COLUMNS)}",
        )
    if df.empty:
        raise PairsFileError(str(path), "no rows")
    glosses = []
    for i, row in enumerate(df.itertuples(index=False), start=2):
        try:
            glosses.append(" ".join(check_glosses(str(row.glosses).split())))
        except GlossError as exc:
            raise PairsFileError(str(path), f"row {i}, column glosses: {exc}") from exc
        if not str(row.sentence).strip():
            raise PairsFileError(str(path), f"row {i}, column sentence: empty")
        if row.split not in SPLITS:
            raise PairsFileError(
                str(path), f"row {i}, column split: {row.split!r}", f"use one of {SPLITS}"
            )
    out = df[list(PAIRS_COLUMNS)].copy()
    out["glosses"] = glosses
    out["sentence"] = out["sentence"].str.strip()
    return out.reset_index(drop=True)


def split_pairs(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows of a pairs frame, each re-indexed from 0."""
    train = pairs[pairs["split"] == "train"].reset_index(drop=True)
    test = pairs[pairs["split"] == "test"].reset_index(drop=True)
    return train, test


def gloss_lists(pairs: pd.DataFrame) -> list[list[str]]:
    """The `glosses` column as lists of sign names."""
    return [g.split() for g in pairs["glosses"]]
