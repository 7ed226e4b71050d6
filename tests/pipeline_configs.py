"""The main pipeline's run configuration for tests: configs/quickstart.yaml pointed at a
data folder, with every report, run and model written under a test's folder."""

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
    config["parameters"].update(
        {"data_dir": str(data), "runs": runs, "scale": scale, "scales_dir": str(scales)}
    )
    if folds is not None:
        config["parameters"]["folds"] = folds
    steps = config["steps"]
    steps["validate_data"]["parameters"]["report_dir"] = str(tmp_path / "validation")
    steps["compare_runs"]["parameters"]["report_dir"] = str(tmp_path / "reports")
    steps["summarize_main"]["parameters"]["summary_path"] = str(tmp_path / "summary.md")
    steps["summarize_main"]["parameters"]["champion_tflite"] = str(tmp_path / "model.tflite")
    for name in runs:
        for suffix in [f"_fold{k}" for k in folds] if folds else [""]:
            steps[f"train_{name}{suffix}"] = {"parameters": {"out_root": str(tmp_path / "runs")}}
            steps[f"evaluate_{name}{suffix}"] = {
                "parameters": {"out_root": str(tmp_path / "evaluation")}
            }
        steps[f"export_{name}"] = {"parameters": {"out_root": str(tmp_path / "tflite")}}
    path = tmp_path / f"main-{scale}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
