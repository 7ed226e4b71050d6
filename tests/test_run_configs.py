"""The seven run configs load at both scales and build their models."""

import pytest

from islr.errors import ConfigError
from islr.models.zoo import build_model
from islr.training.config import load_run_config


def test_the_seven_runs_exist(repo_root):
    names = {p.stem for p in (repo_root / "configs/runs").glob("*.yaml")}
    assert names == {
        "cnn",
        "transformer",
        "cnn_transformer_noaug",
        "cnn_transformer",
        "cnn_bilstm",
        "cnn_bigru",
        "cnn_linformer",
    }


@pytest.mark.parametrize("scale", ["quickstart", "full"])
def test_runs_load_at_each_scale(repo_root, scale):
    for run in sorted((repo_root / "configs/runs").glob("*.yaml")):
        config = load_run_config(run, repo_root / f"configs/scales/{scale}.yaml")
        assert config.name == run.stem
        assert config.augmentation == (run.stem != "cnn_transformer_noaug")
        if scale == "full":
            assert config.model.dim == 192 and config.train.epochs == 120
            assert config.train.batch_per_replica * 8 == 512


def test_quickstart_models_build(repo_root):
    for run in sorted((repo_root / "configs/runs").glob("*.yaml")):
        config = load_run_config(run, repo_root / "configs/scales/quickstart.yaml")
        assert build_model(config.model).count_params() < 200_000


def test_bad_run_config_names_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {architecture: resnet}\n")
    with pytest.raises(ConfigError, match="architecture"):
        load_run_config(bad)
