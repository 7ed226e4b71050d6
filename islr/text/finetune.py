"""Supervised fine-tuning of a T5 composer on (gloss sequence -> sentence) pairs.

A plain PyTorch loop (AdamW, gradient clipping, seeded shuffling and dropout) that runs
on a laptop CPU for small models and on a GPU when `ComposerConfig.device` names one.
The model is trained on exactly the prompt the composer will use at inference, so the
tuned checkpoint is used with the same `ComposerConfig.prompt_template`.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from islr.text.composer import resolve_checkpoint
from islr.text.config import ComposerConfig, FinetuneConfig
from islr.text.pairs import gloss_lists

log = logging.getLogger(__name__)

# What the tuned directory records about its own training (read by humans and tools).
TRAINING_FILE = "islr_training.json"


class ComposerCheckpoint(BaseModel):
    """A tuned T5 checkpoint directory and how it was made."""

    directory: str
    base_checkpoint: str
    prompt_template: str
    epoch_losses: list[float]
    n_train: int
    steps: int
    seconds: float


def _batches(n: int, batch_size: int, generator) -> list[list[int]]:
    import torch

    order = torch.randperm(n, generator=generator).tolist()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def finetune(
    train_pairs: pd.DataFrame,
    output_dir: str | os.PathLike[str],
    composer: ComposerConfig,
    config: FinetuneConfig,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> ComposerCheckpoint:
    """Fine-tune `composer.checkpoint` on `train_pairs` and save it to `output_dir`.

    `on_epoch_end(epoch, mean_loss)` is called after each epoch (epochs count from 1),
    e.g. to log the loss to an experiment tracker. The directory is written under a
    temporary name and renamed, so a crash never leaves a half-written checkpoint.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import T5ForConditionalGeneration, T5Tokenizer

    started = time.perf_counter()
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise FileExistsError(f"{output_dir}: output directory exists and is not empty")
    if config.threads:
        torch.set_num_threads(config.threads)
    pairs = (
        train_pairs if config.max_train_pairs is None else train_pairs.head(config.max_train_pairs)
    )
    if pairs.empty:
        raise ValueError("no training pairs")
    base = resolve_checkpoint(composer.checkpoint, composer.cache_dir)
    torch.manual_seed(config.seed)
    # A private copy of the weights: the composer's shared model cache must not change.
    tokenizer = T5Tokenizer.from_pretrained(base, local_files_only=True)
    model = T5ForConditionalGeneration.from_pretrained(base, local_files_only=True)
    model.to(composer.device).train()

    prompts = [composer.prompt(g) for g in gloss_lists(pairs)]
    targets = pairs["sentence"].tolist()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    n_batches = math.ceil(len(prompts) / config.batch_size)
    log.info(
        "fine-tuning %s on %d pairs: %d epochs x %d batches",
        composer.checkpoint,
        len(prompts),
        config.epochs,
        n_batches,
    )
    epoch_losses: list[float] = []
    steps = 0
    for epoch in range(1, config.epochs + 1):
        total = 0.0
        progress = tqdm(
            _batches(len(prompts), config.batch_size, generator),
            desc=f"epoch {epoch}/{config.epochs}",
            leave=False,
            disable=None,
        )
        for batch in progress:
            inputs = tokenizer(
                [prompts[i] for i in batch],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=config.max_source_tokens,
            )
            labels = tokenizer(
                [targets[i] for i in batch],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=config.max_target_tokens,
            ).input_ids
            # Padding must not count in the loss: -100 is the ignore index of T5's loss.
            labels[labels == tokenizer.pad_token_id] = -100
            loss = model(
                input_ids=inputs.input_ids.to(composer.device),
                attention_mask=inputs.attention_mask.to(composer.device),
                labels=labels.to(composer.device),
            ).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            total += loss.item()
            steps += 1
            progress.set_postfix(loss=f"{loss.item():.3f}")
        mean_loss = total / n_batches
        epoch_losses.append(round(mean_loss, 6))
        log.info("epoch %d/%d: loss %.4f", epoch, config.epochs, mean_loss)
        if on_epoch_end is not None:
            on_epoch_end(epoch, mean_loss)

    result = ComposerCheckpoint(
        directory=str(output_dir),
        base_checkpoint=composer.checkpoint,
        prompt_template=composer.prompt_template,
        epoch_losses=epoch_losses,
        n_train=len(prompts),
        steps=steps,
        seconds=round(time.perf_counter() - started, 3),
    )
    save_checkpoint(model.eval(), tokenizer, base, output_dir, result)
    return result


def save_checkpoint(
    model, tokenizer, base: Path, output_dir: Path, info: ComposerCheckpoint
) -> None:
    """Save model and tokenizer atomically (temporary sibling folder, then rename)."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.with_name(f".{output_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    # save_pretrained writes tokenizer.json only; keep the sentencepiece model too, so
    # the checkpoint also loads with tools that read `spiece.model`.
    spiece = base / "spiece.model"
    if spiece.is_file() and not (tmp / "spiece.model").exists():
        shutil.copy2(spiece, tmp / "spiece.model")
    (tmp / TRAINING_FILE).write_text(info.model_dump_json(indent=2))
    if output_dir.exists():
        output_dir.rmdir()  # checked empty above; the store may have made it in advance
    os.replace(tmp, output_dir)
    log.info("saved tuned composer to %s", output_dir)
