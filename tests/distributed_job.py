"""The real trainer in its own process, for the distribution tests:

    python tests/distributed_job.py OUT_DIR TFRECORDS_DIR [--cpus N] CONFIG_JSON...

Runs `train_run` on the shards in TFRECORDS_DIR once per `RunConfig` JSON file, in
order (each config's `train.strategy` picks the strategy; `auto` with a TF_CONFIG in the
environment is the multi-worker one), in `OUT_DIR/<config stem>/`, and writes
`OUT_DIR/<config stem>-<task>.json`: the `TrainResult`, whether this process is the
chief, and the `TrainingDivergedError` message if training stopped on a NaN loss (the
process then exits with 3). `--cpus N` splits the CPU into N logical devices first,
which TensorFlow allows only before it initialises, hence a process of its own.
"""

import json
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    args = sys.argv[1:]
    cpus = None
    if "--cpus" in args:
        at = args.index("--cpus")
        cpus = int(args[at + 1])
        del args[at : at + 2]
    out, tfrecords_dir, *config_files = args
    from islr.training.distribute import is_chief, split_cpu

    if cpus:
        split_cpu(cpus)
    from islr.data.tfrecord import load_tfrecord_set
    from islr.errors import TrainingDivergedError
    from islr.training.config import RunConfig
    from islr.training.trainer import train_run

    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    suffix = f"{task.get('type', 'single')}-{task.get('index', 0)}"
    code = 0
    for config_file in config_files:
        config = RunConfig.model_validate_json(Path(config_file).read_text())
        stem = Path(config_file).stem
        report: dict = {"chief": is_chief(), "error": None}
        try:
            result = train_run(config, load_tfrecord_set(tfrecords_dir), f"{out}/{stem}")
            report.update(result.model_dump())
        except TrainingDivergedError as exc:
            report["error"] = str(exc)
            code = 3
        Path(out, f"{stem}-{suffix}.json").write_text(json.dumps(report))
    sys.exit(code)
