"""The data pipeline: fingerprint -> ingest -> validate -> split -> TFRecords."""

from zenml import pipeline

from islr.job import JobConfig
from steps.fingerprint import fingerprint_data
from steps.ingest import ingest_data
from steps.split import split_folds
from steps.summary import summarize_data
from steps.tfrecords import write_tfrecord_shards
from steps.validate import validate_data

# The step ids `data_steps` adds, in order (what benchmarks/pipeline_steps.py groups).
DATA_STEPS = (
    "fingerprint_data",
    "ingest_data",
    "validate_data",
    "split_folds",
    "write_tfrecord_shards",
)


def data_steps(job: JobConfig):
    """Wire the data steps (shared by every pipeline that starts from raw data); returns
    the fingerprint, validation report, fold manifest and TFRecord set outputs."""
    data_dir = job.data_dir
    fingerprint = fingerprint_data(data_dir=data_dir)
    recordings = ingest_data(
        data_dir=data_dir, data_fingerprint=fingerprint, workers=job.ingest_workers
    )
    valid, report, _ = validate_data(
        recordings=recordings,
        data_dir=data_dir,
        data_fingerprint=fingerprint,
        config=job.validation,
        output_root=job.output_root,
    )
    manifest = split_folds(valid_recordings=valid, data_fingerprint=fingerprint, config=job.split)
    tfrecords = write_tfrecord_shards(
        fold_manifest=manifest,
        data_dir=data_dir,
        data_fingerprint=fingerprint,
        config=job.tfrecords,
    )
    return fingerprint, report, manifest, tfrecords


@pipeline(enable_cache=True)
def data_pipeline(job: JobConfig | None = None):
    """Any folder in the asl-signs layout (`job.data_dir`) -> validated, split,
    islr-5fold TFRecords. `job`: islr.job.JobConfig (None: every default)."""
    job = job or JobConfig()
    fingerprint, report, _, tfrecords = data_steps(job)
    summarize_data(data_fingerprint=fingerprint, validation_report=report, tfrecords=tfrecords)
    return tfrecords
