"""TFRecord shards in the public `islr-5fold` layout: writer (no TensorFlow) and reader.

Each record is a `tf.train.Example` with `coordinates` (bytes of a float32 array
(T, 543, 3), NaN kept), `sign`, `participant_id` and `sequence_id` (int64). Shards are
GZIP files named `fold{k}-{i}-{n}.tfrecords`, n being the record count, so the public
shards and ours are read by the same code.

The writer encodes the protobuf and the TFRecord framing itself (crc32c from
google-crc32c; GZIP with stored blocks by default, or ISA-L's igzip, ~8x faster than
zlib, when asked to compress): worker processes then start in a
fraction of a second instead of importing TensorFlow, which matters when converting
94,477 recordings across many cores. Round trips through TensorFlow's own parser are
tested.

Every fold is written in two halves of shards (by participant, see
islr.data.split): the validation and the test half of that fold when it is the one
evaluated. A shard never mixes splits, so the same set serves every fold of a
cross-validation (`TFRecordSet.for_fold`). `splits.json` beside the shards says which
files hold which split, fold and half.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import struct
from pathlib import Path

import google_crc32c
import numpy as np
import pandas as pd
from isal import igzip
from pydantic import BaseModel, ConfigDict, Field

from islr.data.format import ROWS_PER_FRAME, atomic_write_bytes_via, read_recording
from islr.data.outputs import check_output_dir, make_staging_dir, publish_staging
from islr.errors import ConfigError, DataFolderError
from islr.parallel import parallel_map, resolve_workers

log = logging.getLogger(__name__)

SPLITS_FILE = "splits.json"
MANIFEST_FILE = "fold_manifest.csv"
# With the default `workers`, one process per this many records at most: a spawned
# writer takes about 2.5 s to start, the time this process needs to write ~800 records
# itself (the 480-record embedded set: 1.4 s in this process, 3.5 s with 2 processes;
# `python benchmarks/tfrecord_throughput.py --data data --repeat 1`).
RECORDS_PER_WORKER = 1024


class TFRecordConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records_per_shard: int = Field(256, ge=1)
    # 0: GZIP with stored (uncompressed) blocks, which every GZIP reader opens, written
    # at memcpy speed and inflated for free by tf.data. 1-3: ISA-L deflate levels; real
    # landmarks shrink only to ~86% (float noise does not compress), generated ones to
    # ~66%, for ~0.5 ms more CPU per recording on write and inflate work on every read.
    compression_level: int = Field(0, ge=0, le=3)
    workers: int | None = Field(
        None,
        description="processes; None = one per core, fewer when there are fewer than "
        f"{RECORDS_PER_WORKER} records per core",
    )
    seed: int = 42


class TFRecordSet(BaseModel):
    """Where a written set of shards lives and what it holds."""

    directory: str
    files: dict[str, list[str]]  # split -> shard file names
    folds: dict[int, list[str]]  # fold -> shard file names
    counts: dict[str, int]  # split -> records
    n_records: int
    eval_fold: int
    compression: str = "GZIP"
    # fold -> {"val": shards, "test": shards}: how each fold splits when it is the one
    # evaluated; folds that cannot be halved (one participant) are absent
    halves: dict[int, dict[str, list[str]]] = Field(default_factory=dict)

    def paths(self, split: str) -> list[str]:
        if split not in self.files:
            raise KeyError(f"no split {split!r}; available: {sorted(self.files)}")
        return [os.path.join(self.directory, f) for f in self.files[split]]

    def evaluable_folds(self) -> list[int]:
        return sorted({self.eval_fold, *self.halves} - {-1})

    def for_fold(self, fold: int | None) -> TFRecordSet:
        """The same shards with `fold` evaluated (its validation and test halves) and
        every other fold training: one fold of a cross-validation. None or the set's own
        evaluation fold returns the set unchanged."""
        if fold is None or fold == self.eval_fold:
            return self
        if fold not in self.halves:
            raise ConfigError(
                f"{self.directory}: fold {fold} cannot be evaluated; the set's evaluable "
                f"folds are {self.evaluable_folds()} (folds {sorted(self.folds)} exist; a "
                "fold is evaluable when it holds at least two participants, so it can be "
                "halved into validation and test)"
            )
        files = {
            "train": [f for k in sorted(self.folds) if k != fold for f in self.folds[k]],
            "val": list(self.halves[fold]["val"]),
            "test": list(self.halves[fold]["test"]),
        }
        counts = {split: sum(shard_records(f) for f in names) for split, names in files.items()}
        return self.model_copy(
            update={"files": files, "counts": counts, "eval_fold": fold}, deep=True
        )


def check_folds(record_set: TFRecordSet, folds: list[int]) -> None:
    """ConfigError naming every requested fold the set cannot evaluate."""
    if not folds:
        raise ConfigError("folds: empty list; name at least one fold, e.g. folds: [0]")
    if len(set(folds)) != len(folds):
        raise ConfigError(f"folds: {folds} names a fold twice")
    bad = [k for k in folds if k not in record_set.evaluable_folds()]
    if bad:
        missing = [k for k in bad if k not in record_set.folds]
        why = (
            f"fold(s) {missing} do not exist (the split has folds {sorted(record_set.folds)})"
            if missing
            else f"fold(s) {bad} hold fewer than two participants, so they cannot be halved "
            "into validation and test"
        )
        raise ConfigError(
            f"folds: {folds} cannot all be evaluated: {why}; evaluable folds: "
            f"{record_set.evaluable_folds()}. Lower split n_folds or add participants."
        )


def shard_records(name: str) -> int:
    """The record count in a shard's name (`fold{k}-{i}-{n}.tfrecords`)."""
    try:
        return int(Path(name).name.split(".")[0].rsplit("-", 1)[1])
    except (IndexError, ValueError) as exc:
        raise DataFolderError(f"{name}: not a shard name fold<k>-<i>-<n>.tfrecords") from exc


# --- protobuf and TFRecord framing ---------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # two's complement for negative int64, as protobuf does
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, chunks: list[bytes]) -> list[bytes]:
    """A length-delimited protobuf field (wire type 2) around already-encoded chunks.

    Fields are kept as lists of chunks so the large coordinate buffer is never copied
    while the message is nested around it.
    """
    size = sum(len(c) for c in chunks)
    return [_varint(number << 3 | 2) + _varint(size), *chunks]


def _bytes_feature(value: bytes) -> list[bytes]:
    return _field(1, _field(1, [value]))  # Feature.bytes_list -> BytesList.value


def _int64_feature(value: int) -> list[bytes]:
    return _field(3, _field(1, [_varint(int(value))]))  # Feature.int64_list, packed


def example_chunks(
    coordinates: np.ndarray, sign: int, participant_id: int, sequence_id: int
) -> list[bytes]:
    """A `tf.train.Example` for one recording, as chunks whose concatenation is it."""
    coords = np.ascontiguousarray(coordinates, dtype="<f4")
    if coords.ndim != 3 or coords.shape[1:] != (ROWS_PER_FRAME, 3):
        raise ValueError(f"coordinates must be (T, {ROWS_PER_FRAME}, 3), got {coords.shape}")
    features = {
        "coordinates": _bytes_feature(coords.tobytes()),
        "participant_id": _int64_feature(participant_id),
        "sequence_id": _int64_feature(sequence_id),
        "sign": _int64_feature(sign),
    }
    entries = [
        chunk
        for key, value in sorted(features.items())  # map<string, Feature> entries
        for chunk in _field(1, _field(1, [key.encode()]) + _field(2, value))
    ]
    return _field(1, entries)  # Example.features -> Features.feature


def encode_example(
    coordinates: np.ndarray, sign: int, participant_id: int, sequence_id: int
) -> bytes:
    """Serialize one recording as a `tf.train.Example`."""
    return b"".join(example_chunks(coordinates, sign, participant_id, sequence_id))


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record_chunks(data: list[bytes]) -> list[bytes]:
    """One TFRecord around `data`: length, masked crc32c of length, data, masked crc32c."""
    length = struct.pack("<Q", sum(len(c) for c in data))
    crc = 0
    for chunk in data:
        crc = google_crc32c.extend(crc, chunk)
    return [
        length + struct.pack("<I", _mask(google_crc32c.value(length))),
        *data,
        struct.pack("<I", _mask(crc)),
    ]


# --- writing -------------------------------------------------------------------------------


class _ShardTask(BaseModel):
    out_dir: str
    fold: int
    index: int
    compression_level: int
    records: list[tuple[str, int, int, int]]  # (file, label, participant_id, sequence_id)


def _write_shard(task: _ShardTask) -> tuple[str, int, int]:
    """Write one shard to a temporary name, then rename it to its final name."""
    n = len(task.records)
    final = Path(task.out_dir) / f"fold{task.fold}-{task.index}-{n}.tfrecords"

    def write(tmp: str) -> None:
        gzip_file = igzip.IGzipFile if task.compression_level > 0 else gzip.GzipFile
        with (
            open(tmp, "wb") as raw,
            gzip_file(
                filename="", mode="wb", fileobj=raw, compresslevel=task.compression_level, mtime=0
            ) as out,
        ):
            for file, label, pid, sid in task.records:
                example = example_chunks(read_recording(file), label, pid, sid)
                out.writelines(record_chunks(example))

    atomic_write_bytes_via(final, write)
    return final.name, n, final.stat().st_size


def plan_shards(
    manifest: pd.DataFrame, config: TFRecordConfig
) -> list[tuple[int, str, str, pd.DataFrame]]:
    """Group the manifest into shards: (fold, split, half, rows). A shard never mixes
    splits or halves, so any fold's halves can later serve as validation and test.

    Rows are shuffled (seeded) within a fold so every shard holds a mix of signs and
    participants, which is what an interleaving reader expects.
    """
    rng = np.random.default_rng(config.seed)
    half = (
        manifest["half"]
        if "half" in manifest.columns
        else manifest["split"].where(manifest["split"] != "train", "")
    )
    half = half.fillna("").astype(str)
    plan = []
    for fold in sorted(manifest["fold"].unique()):
        in_fold = manifest["fold"] == fold
        for split in ("train", "val", "test"):
            for part in ("val", "test", ""):
                rows = manifest[in_fold & (manifest["split"] == split) & (half == part)]
                if rows.empty:
                    continue
                rows = rows.iloc[rng.permutation(len(rows))]
                step = config.records_per_shard
                for start in range(0, len(rows), step):
                    plan.append((int(fold), split, part, rows.iloc[start : start + step]))
    return plan


def writer_processes(n_records: int, workers: int | None, cores: int | None = None) -> int:
    """How many processes write `n_records` records: `workers` when set (> 0); by
    default one per core (`cores`, default this machine's), but no more than one per
    `RECORDS_PER_WORKER` records, and at least one."""
    if workers:
        return workers
    cores = cores or resolve_workers(None)
    return min(cores, max(1, n_records // RECORDS_PER_WORKER))


def write_tfrecords(
    manifest: pd.DataFrame,
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: TFRecordConfig | None = None,
    progress: bool = True,
    write_manifest: bool = False,
) -> TFRecordSet:
    """Convert the recordings of a fold manifest into GZIP TFRecord shards in `out_dir`.

    The whole set is written into a hidden staging folder beside `out_dir` and renamed
    at the end: a crash, a bad file, SIGINT or SIGTERM leaves no half-written set and no
    staging folder behind, and a later run removes the staging folder of a run that was
    killed outright. `out_dir` must not exist, or be an empty folder, and must not lie
    inside `data_dir` (OutputFolderError). `write_manifest` adds the manifest to the set
    as `fold_manifest.csv`.
    """
    config = config or TFRecordConfig()
    root = Path(data_dir).resolve()
    out = Path(out_dir)
    check_output_dir(out, data_dir=root, what="TFRecord folder")
    staging = make_staging_dir(out)
    try:
        tasks, shard_split = [], []
        next_index: dict[int, int] = {}
        for fold, split, part, rows in plan_shards(manifest, config):
            index = next_index.get(fold, 0)
            next_index[fold] = index + 1
            records = [
                (str(root / r.path), int(r.label), int(r.participant_id), int(r.sequence_id))
                for r in rows.itertuples(index=False)
            ]
            tasks.append(
                _ShardTask(
                    out_dir=str(staging),
                    fold=fold,
                    index=index,
                    compression_level=config.compression_level,
                    records=records,
                )
            )
            shard_split.append((fold, split, part))
        workers = writer_processes(sum(len(t.records) for t in tasks), config.workers)
        results = list(
            parallel_map(_write_shard, tasks, workers=workers, desc="tfrecords", progress=progress)
        )
        files: dict[str, list[str]] = {}
        folds: dict[int, list[str]] = {}
        counts: dict[str, int] = {}
        halves: dict[int, dict[str, list[str]]] = {}
        for (fold, split, part), (name, n, _) in zip(shard_split, results, strict=True):
            files.setdefault(split, []).append(name)
            folds.setdefault(fold, []).append(name)
            counts[split] = counts.get(split, 0) + n
            if part:
                halves.setdefault(fold, {"val": [], "test": []})[part].append(name)
        halves = {k: v for k, v in halves.items() if v["val"] and v["test"]}
        order = {"train": 0, "val": 1, "test": 2}
        files = dict(sorted(files.items(), key=lambda kv: order[kv[0]]))
        counts = dict(sorted(counts.items(), key=lambda kv: order[kv[0]]))
        eval_folds = manifest.loc[manifest["split"] != "train", "fold"].unique()
        record_set = TFRecordSet(
            directory=str(out),
            files=files,
            folds=folds,
            counts=counts,
            n_records=sum(counts.values()),
            eval_fold=int(eval_folds[0]) if len(eval_folds) else -1,
            halves=halves,
        )
        spec = record_set.model_dump(exclude={"directory"})
        (staging / SPLITS_FILE).write_text(json.dumps(spec, indent=2))
        if write_manifest:
            manifest.to_csv(staging / MANIFEST_FILE, index=False)
        publish_staging(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info(
        "wrote %d records in %d shards to %s",
        record_set.n_records,
        sum(len(v) for v in files.values()),
        out,
    )
    return record_set


def load_tfrecord_set(directory: str | os.PathLike[str]) -> TFRecordSet:
    """Describe a shard folder written by `write_tfrecords` (reads its splits.json).
    `directory` may be a local path or a URI TensorFlow reads (gs://, s3://, hdfs://)."""
    directory = str(directory).rstrip("/")
    path = f"{directory}/{SPLITS_FILE}"
    try:
        if "://" in directory:
            import tensorflow as tf

            with tf.io.gfile.GFile(path) as fh:
                text = fh.read()
        else:
            text = Path(path).read_text()
        spec = json.loads(text)
    except Exception as exc:  # missing, unreadable or not JSON: say which file
        raise DataFolderError(
            f"{path}: not a TFRecord set written by islr ({exc}); "
            "write one with `islr data tfrecords` or the data pipeline"
        ) from exc
    return TFRecordSet(directory=directory, **spec)


def load_fold_manifest(directory: str | os.PathLike[str]) -> pd.DataFrame | None:
    """The fold manifest a shard folder was written from (`fold_manifest.csv`, which
    `islr data tfrecords` writes beside the shards), or None when the folder has none.
    `directory` may be a local path or a URI TensorFlow reads."""
    directory = str(directory).rstrip("/")
    path = f"{directory}/{MANIFEST_FILE}"
    if "://" in directory:
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as fh:
            return pd.read_csv(fh)
    return pd.read_csv(path) if Path(path).is_file() else None


# --- reading (TensorFlow) ------------------------------------------------------------------

# Shards a seeded `make_dataset` reads at once (see there).
SEEDED_PARALLEL_READS = 8


def parse_example(serialized):
    """Parse one record with the plain islr-5fold feature spec."""
    import tensorflow as tf

    spec = {
        "coordinates": tf.io.FixedLenFeature([], tf.string),
        "sign": tf.io.FixedLenFeature([], tf.int64),
        "participant_id": tf.io.FixedLenFeature([], tf.int64),
        "sequence_id": tf.io.FixedLenFeature([], tf.int64),
    }
    features = tf.io.parse_single_example(serialized, spec)
    coords = tf.reshape(
        tf.io.decode_raw(features["coordinates"], tf.float32), (-1, ROWS_PER_FRAME, 3)
    )
    return {**features, "coordinates": coords}


def make_dataset(
    files: list[str],
    *,
    shuffle_files: bool = False,
    seed: int | None = None,
    compression: str = "GZIP",
    parallel_reads: int | None = None,
):
    """A `tf.data.Dataset` of parsed records (dicts) from TFRecord shards.

    Unshuffled, or shuffled with a `seed`, the records come in the same order every
    time; shuffled without one, in whatever order the shards are read fastest."""
    import tensorflow as tf

    if not files:
        raise ValueError("make_dataset: no TFRecord files given")
    ds = tf.data.Dataset.from_tensor_slices(list(files))
    if shuffle_files:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if parallel_reads is None and seed is not None:
        # AUTOTUNE reads as many shards at once as the machine has cores, and that
        # number sets the order the records interleave in: a fixed one gives a seeded
        # reader the same order on any machine.
        parallel_reads = min(len(files), SEEDED_PARALLEL_READS)
    ds = ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type=compression),
        cycle_length=parallel_reads or tf.data.AUTOTUNE,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not shuffle_files or seed is not None,
    )
    return ds.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE)
