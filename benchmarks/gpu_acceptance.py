"""GPU acceptance: every run of the recipe trains at full scale on this machine.

    bash benchmarks/gpu_acceptance.sh [--steps 150] [--runs cnn transformer ...]
        [--scale configs/scales/full.yaml] [--batch-per-replica 64]
        [--placement auto|mirrored|one_run_per_gpu|both] [--json OUT.json]

Each run (configs/runs/*.yaml over the scale file) is built and compiled by the
project's trainer (`islr.training.trainer.compile_trainer`), with the strategy and the
precision its config picks (`auto`: MirroredStrategy over several GPUs; bfloat16 on
Ampere or newer), and trained on the embedded data through the real input pipeline
(TFRecords, augmentation, padding). The run's schedules are compressed into the
measured steps, and AWP and LateDropout are on from the first step: the state of
epochs 15-120 of the recipe, the costlier one, with the learning rate sweeping through
its peak. After `--warmup-steps` untimed steps (tracing), `--steps` steps are timed.

Per run it prints steps/s, recordings/s, peak memory (the GPU allocator's peak; on a
CPU, the process's maximum resident memory), whether the loss stayed finite and every
weight is finite afterwards, and the projected wall time of the full recipe
(epochs x 94,477 recordings x the train share of the split) on 1, 2, 4 and 8 GPUs.

Placements (`islr.training.placement`): `mirrored` trains the runs one after another,
each across every GPU; `one_run_per_gpu` trains them concurrently, a child process per
run pinned to one GPU. `auto` measures `mirrored` in this process on a box with fewer
than two GPUs, and both placements (`both`) on a box with more, each in child processes
at the same global batch, and compares their wall times.

Data: `--tfrecords DIR` uses existing shards; otherwise `islr data ensure` obtains the
embedded data set and `islr data tfrecords` writes shards (4 participant-grouped folds,
as configs/retrain.yaml) under outputs/gpu_acceptance/, reused by later calls.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The full data set of the recipe (Google ISLR asl-signs train.csv).
FULL_RECORDINGS = 94_477
GPU_COUNTS = (1, 2, 4, 8)
DEFAULT_OUT = REPO / "outputs" / "gpu_acceptance"


def prepare_tfrecords(args: argparse.Namespace) -> Path:
    """The shard folder to train on, written by the project's own data commands."""
    if args.tfrecords:
        return Path(args.tfrecords)
    out = Path(args.out) / "tfrecords"
    if (out / "splits.json").exists():
        print(f"reusing TFRecords in {out}", flush=True)
        return out
    # The commands run in this process: what a user's shell would run, without paying
    # TensorFlow's import (about 7 s on 2 cores) once more per command. On a CPU the
    # reported peak (the process's maximum resident memory) then covers writing the
    # shards too; on a GPU it is the allocator's and covers training only.
    from islr.cli import main as islr_main

    data_dir = Path(args.data_dir)
    commands = []
    if args.data_dir == "data":  # the embedded data set, versioned by data.dvc
        commands.append(["data", "ensure", "--repo", str(REPO)])
        data_dir = REPO / "data"
    commands.append(
        [
            *("data", "tfrecords", str(data_dir), str(out)),
            *("--report-dir", str(Path(args.out) / "validation"), "--n-folds", "4"),
        ]
    )
    for command in commands:
        if islr_main(command) != 0:
            sys.exit(f"gpu_acceptance: `islr {' '.join(command)}` failed (its message is above)")
    return out


def _memory_probe():
    """Reset the peak-memory counters; return a function that reads the peak since."""
    import tensorflow as tf

    gpus = [f"GPU:{i}" for i in range(len(tf.config.list_logical_devices("GPU")))]
    if not gpus:
        # The process's high-water mark, which never goes down: a later run shows the
        # maximum over every run so far.
        def rss() -> tuple[int, str]:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "max RSS"

        return rss
    for gpu in gpus:
        tf.config.experimental.reset_memory_stats(gpu)

    def peak() -> tuple[int, str]:
        used = max(tf.config.experimental.get_memory_info(g)["peak"] for g in gpus)
        return used, "GPU peak"

    return peak


def device_name() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU ({os.cpu_count()} cores)"
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name", "GPU")
    cc = details.get("compute_capability")
    cc_text = f", compute capability {cc[0]}.{cc[1]}" if cc else ""
    return f"{len(gpus)} x {name}{cc_text}"


def measure_run(
    run_file: Path,
    scale_file: Path,
    tfrecords_dir: Path,
    steps: int,
    warmup_steps: int,
    batch_per_replica: int | None,
) -> dict:
    """Train one run for `warmup_steps` + `steps` steps; its figures as a dict."""
    import keras
    import numpy as np
    from training_throughput import timed_fit

    from islr.data.tfrecord import load_tfrecord_set
    from islr.models.landmarks import FACE_MIRROR_PAIRS
    from islr.training.augment import make_augment
    from islr.training.config import load_run_config
    from islr.training.data import make_batches
    from islr.training.distribute import global_batch_size, select_strategy
    from islr.training.precision import set_precision
    from islr.training.trainer import compile_trainer

    config = load_run_config(run_file, scale_file)
    recipe_epochs = config.train.epochs
    if batch_per_replica is not None:
        config.train.batch_per_replica = batch_per_replica
    # The whole schedule inside the measured steps, AWP and LateDropout from the start.
    config.train.epochs = 1
    config.train.awp_start_epoch = 0
    config.train.late_dropout_start_epoch = 0
    # As in train_run: the strategy first, then the seed and the precision policy.
    strategy = select_strategy(config.train.strategy)
    keras.utils.set_random_seed(config.train.seed)
    precision = set_precision(config.train.precision)
    tfrecords = load_tfrecord_set(tfrecords_dir)
    # Not capped at the data size as train_run does: the stream repeats, and the figure
    # wanted is the recipe's batch even where the embedded set is smaller than it.
    batch = global_batch_size(config.train.batch_per_replica, strategy)
    augment = make_augment(config.augment, list(FACE_MIRROR_PAIRS)) if config.augmentation else None
    ds = make_batches(
        tfrecords.paths("train"),
        batch,
        max_len=config.model.max_len,
        training=True,
        augment=augment,
        seed=config.train.seed,
        n_classes=config.model.n_classes,
        repeat=True,
    )
    probe = _memory_probe()
    with strategy.scope():
        model, trainer, _ = compile_trainer(config, steps_per_epoch=warmup_steps + steps)
    seconds, history = timed_fit(trainer, ds, steps, warmup_steps)
    memory, memory_kind = probe()
    losses = [float(v) for v in history.get("loss", [])]
    # Each value is the mean loss of a fit: NaN or Inf at any step makes it non-finite.
    loss_finite = bool(losses) and all(math.isfinite(v) for v in losses)
    weights_finite = all(
        bool(np.isfinite(keras.ops.convert_to_numpy(w)).all()) for w in model.weights
    )
    counts = tfrecords.counts
    return {
        "run": config.name,
        "architecture": config.model.architecture,
        "parameters": int(model.count_params()),
        "replicas": int(strategy.num_replicas_in_sync),
        "global_batch": batch,
        "precision": precision,
        "jit_compile": bool(trainer.jit_compile),
        "steps": steps,
        "warmup_steps": warmup_steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "recordings_per_s": batch * steps / seconds,
        "peak_memory_bytes": int(memory),
        "memory_kind": memory_kind,
        "loss": losses[-1] if losses else None,
        "loss_finite": loss_finite,
        "weights_finite": weights_finite,
        "recipe_epochs": recipe_epochs,
        "train_share": counts.get("train", 0) / max(1, sum(counts.values())),
        "device": device_name(),
        "error": None,
    }


def measure_in_process(args: argparse.Namespace, run_files: dict[str, Path], tfr: Path) -> list:
    import keras

    records = []
    for name, run_file in run_files.items():
        print(f"{name}: training {args.warmup_steps} + {args.steps} steps ...", flush=True)
        try:
            record = measure_run(
                run_file,
                Path(args.scale),
                tfr,
                args.steps,
                args.warmup_steps,
                args.batch_per_replica,
            )
        except Exception as exc:  # a report of every run, including those that fail
            record = {"run": name, "error": f"{type(exc).__name__}: {str(exc)[:2000]}"}
        print(f"{name}: {json.dumps(record)}", flush=True)
        records.append(record)
        keras.backend.clear_session()
    return records


def measure_placed(
    args: argparse.Namespace,
    run_files: dict[str, Path],
    tfr: Path,
    placement: str,
    gpus: list[str],
    batch_factor: int = 1,
) -> tuple[list, float]:
    """Each run in a child process of this script, placed by islr.training.placement,
    with `batch_factor` times its per-replica batch; returns the records and the
    phase's wall time."""
    from islr.errors import IslrError
    from islr.training.config import load_run_config
    from islr.training.placement import RunJob, place_runs

    work = Path(tempfile.mkdtemp(prefix=f"{placement}-", dir=args.out))
    jobs, broken = [], {}
    for name, run_file in run_files.items():
        # A run file that does not load is reported here, without starting a child that
        # would import TensorFlow and take a GPU slot only to fail on it.
        try:
            config = load_run_config(run_file, args.scale)
        except IslrError as exc:
            broken[name] = f"{type(exc).__name__}: {str(exc)[:2000]}"
            continue
        command = [sys.executable, str(Path(__file__).resolve()), "--placement", "mirrored"]
        command += ["--runs", str(run_file), "--scale", args.scale, "--tfrecords", str(tfr)]
        command += ["--steps", str(args.steps), "--warmup-steps", str(args.warmup_steps)]
        command += ["--out", str(work), "--json", str(work / f"{name}.json")]
        bpr = args.batch_per_replica
        if batch_factor != 1:
            bpr = (bpr or config.train.batch_per_replica) * batch_factor
        if bpr is not None:
            command += ["--batch-per-replica", str(bpr)]
        jobs.append(RunJob(name, command, log_path=work / f"{name}.log", cwd=REPO))
    start = time.perf_counter()
    outcomes = place_runs(jobs, placement, gpus=gpus)
    wall = time.perf_counter() - start
    by_name = {
        name: {"run": name, "error": error, "device_slot": "not started"}
        for name, error in broken.items()
    }
    for outcome in outcomes:
        part = work / f"{outcome.name}.json"
        # a child that ran but found a non-finite loss exits 1 and still wrote its figures
        if part.exists():
            record = json.loads(part.read_text())["phases"][0]["runs"][0]
        else:
            record = {"run": outcome.name, "error": outcome.error or "no result"}
        record["device_slot"] = outcome.slot
        by_name[outcome.name] = record
    records = [by_name[name] for name in run_files]  # in the order the runs were given
    print(f"child logs: {work}", flush=True)
    return records, wall


def schedule_hours(hours: list[float], slots: int) -> float:
    """Makespan of runs taken in order by `slots` parallel workers (the placement
    module's queue: a free worker takes the next run)."""
    free_at = [0.0] * slots
    for h in hours:
        heapq.heappush(free_at, heapq.heappop(free_at) + h)
    return max(free_at)


def projection(records: list[dict]) -> dict:
    """Hours of the full recipe per run on 1/2/4/8 GPUs, and for all runs under both
    placements. Data-parallel scaling is assumed linear (n GPUs: n times one GPU's
    recordings/s at the same per-GPU batch); runs on different GPUs are assumed not to
    slow each other down (enough host cores for every input pipeline)."""
    rows, single = [], []
    for r in records:
        if r.get("error"):
            continue
        per_gpu = r["recordings_per_s"] / r["replicas"]
        total = r["recipe_epochs"] * FULL_RECORDINGS * r["train_share"]
        hours_one = total / per_gpu / 3600
        single.append(hours_one)
        rows.append(
            {
                "run": r["run"],
                "recordings": round(total),
                "per_gpu_recordings_per_s": per_gpu,
                "hours": {g: hours_one / g for g in GPU_COUNTS},
            }
        )
    totals = {
        "mirrored": {g: sum(h / g for h in single) for g in GPU_COUNTS},
        "one_run_per_gpu": {g: schedule_hours(single, g) for g in GPU_COUNTS},
    }
    return {"runs": rows, "all_runs": totals}


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def print_phase(phase: dict) -> None:
    print(
        f"\nplacement {phase['placement']}"
        + (f", wall {phase['wall_s']:.0f} s" if phase.get("wall_s") else "")
    )
    print(
        "| run | parameters | replicas | global batch | precision | XLA | steps/s "
        "| recordings/s | peak memory | loss finite | weights finite |"
    )
    print("|---|---:|---:|---:|---|---|---:|---:|---:|---|---|")
    for r in phase["runs"]:
        if r.get("error"):
            print(f"| {r['run']} | FAILED: {r['error'].splitlines()[0][:200]} |")
            continue
        print(
            f"| {r['run']} | {r['parameters']:,} | {r['replicas']} | {r['global_batch']} "
            f"| {r['precision']} | {'on' if r['jit_compile'] else 'off'} "
            f"| {r['steps_per_s']:.2f} | {r['recordings_per_s']:,.1f} "
            f"| {_gib(r['peak_memory_bytes'])} ({r['memory_kind']}) "
            f"| {'yes' if r['loss_finite'] else 'NO'} | {'yes' if r['weights_finite'] else 'NO'} |"
        )


def print_projection(proj: dict, source: str) -> None:
    print(
        f"\nprojected wall time of the full recipe ({FULL_RECORDINGS:,} recordings x train "
        f"share x epochs per run), hours, from the {source} figures; assumes linear "
        "data-parallel scaling (n GPUs = n x one GPU's recordings/s at the same per-GPU "
        "batch) and, for one_run_per_gpu, that runs on different GPUs do not slow each other"
    )
    head = " | ".join(f"{g} GPU{'s' if g > 1 else ''}" for g in GPU_COUNTS)
    print(f"| run | recordings | rec/s per GPU | {head} |")
    print("|---|---:|---:|" + "---:|" * len(GPU_COUNTS))
    for row in proj["runs"]:
        hours = " | ".join(f"{row['hours'][g]:,.1f}" for g in GPU_COUNTS)
        print(
            f"| {row['run']} | {row['recordings']:,} | {row['per_gpu_recordings_per_s']:,.1f} "
            f"| {hours} |"
        )
    for placement, by_gpus in proj["all_runs"].items():
        hours = " | ".join(f"{by_gpus[g]:,.1f}" for g in GPU_COUNTS)
        print(f"| all runs, {placement} | | | {hours} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="timed steps per run")
    parser.add_argument("--warmup-steps", type=int, default=8, help="untimed steps first")
    parser.add_argument(
        "--runs", nargs="+", default=["all"], help="run names, YAML paths, or all (default)"
    )
    parser.add_argument("--scale", default=str(REPO / "configs/scales/full.yaml"))
    parser.add_argument(
        "--batch-per-replica", type=int, help="override the scale's train.batch_per_replica"
    )
    parser.add_argument(
        "--placement",
        choices=["auto", "mirrored", "one_run_per_gpu", "both"],
        default="auto",
        help="auto: both when 2 or more GPUs are visible, else mirrored in this process",
    )
    parser.add_argument("--gpus", help="GPU ids for one_run_per_gpu (default: all visible)")
    parser.add_argument("--tfrecords", help="existing shard folder (default: make one)")
    parser.add_argument("--data-dir", default="data", help="data folder to make shards from")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="shards, child logs")
    parser.add_argument("--json", help="write the report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from islr.training.commands import resolve_runs
    from islr.training.placement import visible_gpus

    Path(args.out).mkdir(parents=True, exist_ok=True)
    run_files = resolve_runs(args.runs, REPO / "configs/runs")
    tfr = prepare_tfrecords(args)
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else visible_gpus()
    placements = {
        "auto": ["mirrored", "one_run_per_gpu"] if len(gpus) >= 2 else ["mirrored"],
        "both": ["mirrored", "one_run_per_gpu"],
    }.get(args.placement, [args.placement])
    print(
        f"runs: {', '.join(run_files)}; scale {args.scale}; GPUs visible: {len(gpus)}", flush=True
    )

    phases = []
    if placements == ["mirrored"]:
        start = time.perf_counter()
        records = measure_in_process(args, run_files, tfr)
        phases.append(
            {"placement": "mirrored", "wall_s": time.perf_counter() - start, "runs": records}
        )
    else:
        # Both placements in child processes, so this one never holds a GPU while the
        # other placement's runs need it, and both pay the same start-up per run.
        # They train at the same global batch: one_run_per_gpu puts on one GPU what
        # mirrored spreads over all of them, so both phases do the same work.
        for placement in placements:
            factor = len(gpus) if placement == "one_run_per_gpu" and len(placements) > 1 else 1
            records, wall = measure_placed(args, run_files, tfr, placement, gpus, max(1, factor))
            phases.append({"placement": placement, "wall_s": wall, "runs": records})

    device = next((r["device"] for p in phases for r in p["runs"] if r.get("device")), "unknown")
    print(f"\ndevice: {device}; {args.steps} timed steps after {args.warmup_steps} warm-up steps")
    for phase in phases:
        print_phase(phase)
    if len(phases) > 1:
        walls = ", ".join(f"{p['placement']} {p['wall_s']:.0f} s" for p in phases)
        print(f"\nwall time, same runs, steps and global batch: {walls}")
    proj = projection(phases[0]["runs"])
    print_projection(proj, phases[0]["placement"])

    report = {
        "device": device,
        "scale": args.scale,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "gpus_visible": len(gpus),
        "full_recordings": FULL_RECORDINGS,
        "phases": phases,
        "projection": proj,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    ok = all(
        not r.get("error") and r["loss_finite"] and r["weights_finite"]
        for p in phases
        for r in p["runs"]
    )
    print("\nACCEPTED" if ok else "\nNOT ACCEPTED: see the rows above", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
