"""Composer fine-tuning: pairs -> score base -> fine-tune -> score tuned -> register."""

from zenml import pipeline

from steps.composer import (
    MODEL_NAME,
    ComposerConfig,
    FinetuneConfig,
    evaluate_after,
    evaluate_before,
    finetune_composer,
    load_pairs,
    register_composer,
)


# Never cached: every run is an experiment whose MLflow run must hold all its numbers.
@pipeline(enable_cache=False)
def composer_finetune_pipeline(
    composer: ComposerConfig,
    training: FinetuneConfig,
    pairs_path: str | None = None,
    max_test_pairs: int | None = None,
    model_name: str = MODEL_NAME,
):
    """Fine-tune a T5 sentence composer on (gloss sequence -> sentence) pairs."""
    train_pairs, test_pairs = load_pairs(pairs_path=pairs_path, max_test_pairs=max_test_pairs)
    before = evaluate_before(test_pairs=test_pairs, composer=composer)
    tuned = finetune_composer(train_pairs=train_pairs, composer=composer, training=training)
    after = evaluate_after(test_pairs=test_pairs, checkpoint=tuned, composer=composer)
    return register_composer(
        checkpoint=tuned,
        composer=composer,
        scores_before=before,
        scores_after=after,
        model_name=model_name,
    )
