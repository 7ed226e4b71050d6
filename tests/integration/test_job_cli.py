"""`islr data tfrecords --job FILE`: the command's flags default to the job of a pipeline
config (islr.job.load_job), the same settings the data pipeline would use."""

from __future__ import annotations

import json
import re

from islr.cli import main


def test_tfrecords_takes_its_settings_from_the_job(real_data_dir, tmp_path, repo_root, capsys):
    out = tmp_path / "shards"
    code = main(
        [
            "data",
            "tfrecords",
            str(real_data_dir),
            str(out),
            "--job",
            str(repo_root / "configs/data_sample.yaml"),
            "--report-dir",
            str(tmp_path / "reports"),
            "--workers",
            "1",
        ]
    )
    assert code == 0
    shards = sorted(p.name for p in out.glob("*.tfrecords"))
    # data_sample.yaml: random split into 2 folds, 4 records per shard
    assert {name.split("-")[0] for name in shards} == {"fold0", "fold1"}
    assert all(int(name.rsplit("-", 1)[1].split(".")[0]) <= 4 for name in shards)
    counts = json.loads(capsys.readouterr().out.splitlines()[-1].split(" -> ")[0])
    assert sum(counts.values()) == 9


def test_a_bad_job_file_names_the_file_and_field(real_data_dir, tmp_path, capsys):
    job = tmp_path / "job.yaml"
    job.write_text("parameters: {job: {split: {n_fold: 3}}}\n")
    assert main(["data", "validate", str(real_data_dir), "--job", str(job)]) == 2
    assert re.search(r"job\.yaml.*job\.split\.n_fold", capsys.readouterr().err)


def test_reading_a_job_and_validating_data_import_no_tensorflow(repo_root):
    """Job and run files are read, and recordings validated, without Keras or
    TensorFlow (about 4 s of imports on 2 cores): `islr data validate` and the job
    loader stay quick, and a config error is reported before anything heavy loads."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from islr.job import load_job\n"
        "import islr.data.commands, islr.evaluation.registry\n"
        f"job = load_job({str(repo_root / 'configs/quickstart.yaml')!r})\n"
        "job.run_config('cnn_bigru')\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=repo_root, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "none"
