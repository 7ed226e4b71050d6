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


@pytest.mark.parametrize(
    ("yaml_text", "field", "value"),
    [
        # misspelt keys are errors, not silently ignored defaults
        ("train: {epoch: 5}\n", "train.epoch", "Extra inputs are not permitted"),
        ("model: {dims: 64}\n", "model.dims", "Extra inputs are not permitted"),
        ("augment: {flip: 0.5}\n", "augment.flip", "Extra inputs are not permitted"),
        ("train: {strategy: mirored}\n", "train.strategy", "mirored"),
        ("train: {precision: fp16}\n", "train.precision", "fp16"),
        ("augment: {scale_range: [1.2, 0.8]}\n", "augment.scale_range", r"\(1\.2, 0\.8\)"),
    ],
)
def test_unknown_keys_and_values_are_refused(tmp_path, yaml_text, field, value):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_text)
    with pytest.raises(ConfigError, match=rf"bad\.yaml(?s:.*){field}(?s:.*){value}"):
        load_run_config(bad)


def test_late_dropout_starts_at_its_epoch(repo_root):
    from islr.training.trainer import compile_trainer

    config = load_run_config(
        repo_root / "configs/runs/cnn.yaml", repo_root / "configs/scales/full.yaml"
    )
    assert config.train.late_dropout_start_epoch == 15
    config.model = config.model.model_copy(update={"dim": 16, "max_len": 16, "conv_blocks": 1})
    model, _, _ = compile_trainer(config, steps_per_epoch=7)
    assert model.get_layer("head").drop.start_step == 15 * 7
