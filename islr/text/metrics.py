"""BLEU and chrF (sacrebleu) of composed sentences against reference sentences."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from pydantic import BaseModel

from islr.text.composer import Composer
from islr.text.pairs import gloss_lists


class Scores(BaseModel):
    """Corpus-level scores on 0-100, as sacrebleu reports them."""

    bleu: float
    chrf: float
    n: int


class Evaluation(BaseModel):
    """Scores plus every prediction, so a reviewer can read what the model wrote."""

    scores: Scores
    backend: str
    checkpoint: str | None
    predictions: list[str]

    def table(self, pairs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "glosses": pairs["glosses"].tolist(),
                "reference": pairs["sentence"].tolist(),
                "prediction": self.predictions,
            }
        )


def score_sentences(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    """Corpus BLEU (sacrebleu defaults: 13a tokenisation, exp smoothing) and chrF."""
    import sacrebleu

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    refs = [list(references)]
    return Scores(
        bleu=round(sacrebleu.corpus_bleu(list(predictions), refs).score, 4),
        chrf=round(sacrebleu.corpus_chrf(list(predictions), refs).score, 4),
        n=len(predictions),
    )


def evaluate_composer(composer: Composer, pairs: pd.DataFrame, batch_size: int = 16) -> Evaluation:
    """Compose a sentence for every pair and score it against the pair's sentence."""
    results = composer.compose_many(gloss_lists(pairs), batch_size=batch_size)
    predictions = [r.sentence for r in results]
    return Evaluation(
        scores=score_sentences(predictions, pairs["sentence"].tolist()),
        backend=composer.backend,
        checkpoint=str(composer.checkpoint_dir) if composer.checkpoint_dir else None,
        predictions=predictions,
    )
