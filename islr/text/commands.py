"""`islr translate` and `islr composer ...`: the sentence composer from the command line."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _composer_config(args: argparse.Namespace):
    from islr.text.config import ComposerConfig

    config = ComposerConfig.from_yaml(args.config) if args.config else ComposerConfig()
    update: dict = {}
    if args.backend:
        update["backend"] = args.backend
    if args.checkpoint:
        update["checkpoint"] = args.checkpoint
    if getattr(args, "offline", False):
        update["offline"] = True
    decoding = {}
    if args.beams is not None:
        decoding["num_beams"] = args.beams
    if args.max_new_tokens is not None:
        decoding["max_new_tokens"] = args.max_new_tokens
    if decoding:
        update["decoding"] = config.decoding.model_copy(update=decoding)
    # Re-validate so that flag values get the same checks as YAML values.
    return ComposerConfig.model_validate({**config.model_dump(), **update})


def _add_composer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=("t5", "plain"), help="default: from --config, else t5"
    )
    parser.add_argument(
        "--checkpoint",
        metavar="DIR_OR_ID",
        help="T5 checkpoint: a local directory or a Hugging Face id (default "
        "google/flan-t5-base), downloaded into the Hugging Face cache on first use",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never download (as HF_HUB_OFFLINE=1): the checkpoint must be local or cached",
    )
    parser.add_argument("--config", type=Path, help="composer YAML, e.g. configs/composer.yaml")
    parser.add_argument("--beams", type=int, help="beam width")
    parser.add_argument("--max-new-tokens", type=int, help="longest sentence, in tokens")


def _translate(args: argparse.Namespace) -> int:
    from islr.text.composer import Composer
    from islr.text.glosses import check_glosses

    # Unknown glosses are reported before any model is looked for.
    glosses = check_glosses(args.glosses)
    result = Composer(_composer_config(args)).compose(glosses)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(result.sentence)
        source = f" ({result.checkpoint})" if result.checkpoint else ""
        print(f"backend: {result.backend}{source}")
    return 0


def _tiny_model(args: argparse.Namespace) -> int:
    from islr.text.tiny import make_tiny_t5

    out = make_tiny_t5(args.out_dir, seed=args.seed, d_model=args.d_model)
    print(f"tiny T5 checkpoint: {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from islr.text.composer import Composer
    from islr.text.metrics import evaluate_composer
    from islr.text.pairs import load_pairs

    pairs = load_pairs(args.pairs)
    pairs = pairs[pairs["split"] == args.split].reset_index(drop=True)
    evaluation = evaluate_composer(Composer(_composer_config(args)), pairs)
    s = evaluation.scores
    print(
        f"{args.split} pairs: {s.n}  BLEU {s.bleu:.2f}  chrF {s.chrf:.2f}  ({evaluation.backend})"
    )
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from islr.text.config import FinetuneConfig
    from islr.text.finetune import finetune
    from islr.text.pairs import load_pairs, split_pairs

    train, _ = split_pairs(load_pairs(args.pairs))
    training = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    result = finetune(train, args.out_dir, _composer_config(args), training)
    print(f"tuned checkpoint: {result.directory} (loss per epoch: {result.epoch_losses})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    translate = subparsers.add_parser(
        "translate",
        help="compose recognised signs into an English sentence",
        description="Compose an ordered list of glosses (sign names of the 250-sign map) "
        "into an English sentence. Prints the sentence and the backend that made it.",
    )
    translate.add_argument("glosses", nargs="+", metavar="GLOSS", help="e.g. hello thankyou")
    _add_composer_options(translate)
    translate.add_argument("--json", action="store_true", help="print the full result as JSON")
    translate.set_defaults(func=_translate)

    composer = subparsers.add_parser("composer", help="sentence composer: models and metrics")
    sub = composer.add_subparsers(dest="composer_command", required=True, metavar="COMMAND")

    tiny = sub.add_parser(
        "tiny-model", help="write a tiny random T5 checkpoint (tests, offline demos)"
    )
    tiny.add_argument("out_dir", type=Path)
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--d-model", type=int, default=32)
    tiny.set_defaults(func=_tiny_model)

    evaluate = sub.add_parser("evaluate", help="BLEU and chrF on a split of the pairs CSV")
    evaluate.add_argument("--pairs", type=Path, help="pairs CSV (default: the shipped one)")
    evaluate.add_argument("--split", choices=("train", "test"), default="test")
    _add_composer_options(evaluate)
    evaluate.set_defaults(func=_evaluate)

    tune = sub.add_parser(
        "finetune", help="fine-tune a T5 checkpoint on the pairs (no orchestrator)"
    )
    tune.add_argument("out_dir", type=Path)
    tune.add_argument("--pairs", type=Path, help="pairs CSV (default: the shipped one)")
    tune.add_argument("--epochs", type=int, default=3)
    tune.add_argument("--batch-size", type=int, default=8)
    tune.add_argument("--learning-rate", type=float, default=3e-4)
    tune.add_argument("--seed", type=int, default=42)
    _add_composer_options(tune)
    tune.set_defaults(func=_finetune)
