"""A tiny T5 checkpoint made on this machine, for tests and offline demonstrations.

Random weights (d_model 32, 2 layers) and a sentencepiece vocabulary trained on the
shipped pairs and the prompt, so the whole composer and fine-tuning path runs in
seconds with no download. Its sentences are meaningless until it is fine-tuned.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from islr.text.config import DEFAULT_PROMPT
from islr.text.pairs import load_pairs

log = logging.getLogger(__name__)


def default_corpus() -> list[str]:
    """Text the tiny vocabulary is trained on: prompt, glosses and sentences of the pairs."""
    pairs = load_pairs()
    return [DEFAULT_PROMPT, *pairs["glosses"], *pairs["sentence"]]


def make_tiny_t5(
    out_dir: str | os.PathLike[str],
    corpus: Iterable[str] | None = None,
    vocab_size: int = 600,
    d_model: int = 32,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny, randomly initialised T5 checkpoint (model + tokenizer) to `out_dir`."""
    import sentencepiece as spm
    import torch
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: exists and is not empty")
    lines = list(corpus) if corpus is not None else default_corpus()
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model_bytes,
        model_type="unigram",
        vocab_size=vocab_size,
        # A tiny corpus cannot fill a fixed vocabulary; let it be smaller.
        hard_vocab_limit=False,
        # T5's special ids: pad 0, eos 1, unk 2, no bos.
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        num_threads=1,
        seed_sentencepiece_size=100000,
        minloglevel=2,
    )
    # T5Tokenizer(vocab_file=...) silently builds a 4-token vocabulary; from_pretrained
    # on a folder holding `spiece.model` reads it properly. No sentinel tokens needed.
    (tmp / "spiece.model").write_bytes(model_bytes.getvalue())
    tokenizer = T5Tokenizer.from_pretrained(tmp, extra_ids=0)

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=d_model // 4,
        d_ff=2 * d_model,
        num_layers=num_layers,
        num_decoder_layers=num_layers,
        num_heads=4,
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out_dir.exists():
        out_dir.rmdir()
    os.replace(tmp, out_dir)
    log.info("tiny T5 (vocabulary %d, d_model %d) written to %s", len(tokenizer), d_model, out_dir)
    return out_dir
