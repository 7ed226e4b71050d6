"""The main pipeline's run configuration for tests: configs/quickstart.yaml pointed at a
data folder, with every report, run and model written under a test's folder (the job's
output_root): the latest summary at `<tmp_path>/reports/summary.md`, the champion's
TFLite file at `<tmp_path>/export/model.tflite`."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_config(
    tmp_path: Path,
    data: Path,
    runs: list[str],
    scale: str,
    scales: Path,
    folds: list[int] | None = None,
) -> Path:
    config = yaml.safe_load(Path("configs/quickstart.yaml").read_text())
    config["parameters"]["job"].update(
        {
            "data_dir": str(data),
            "output_root": str(tmp_path),
            "runs": runs,
            "scale": scale,
            "scales_dir": str(scales),
        }
    )
    if folds is not None:
        config["parameters"]["job"]["folds"] = folds
    path = tmp_path / f"main-{scale}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
