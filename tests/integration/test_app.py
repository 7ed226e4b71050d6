"""The Streamlit app, run by `streamlit.testing.v1.AppTest`, and the serving library under it.

Models are real: a tiny Keras model registered in a real MLflow sqlite registry with the
alias `champion` (built in a subprocess, as a training pipeline would), the same model
as a `.keras` file, and two `.tflite` files run by LiteRT (one ending in a softmax, one
returning raw scores). The sentence composer is the tiny local T5 of the composer tests.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import run_cli
from landmark_fixtures import hopper_clip, landmarks_python  # noqa: F401  (fixtures)
from streamlit.testing.v1 import AppTest
from text_fixtures import tiny_t5  # noqa: F401  (fixture)

from islr.serving import (
    ModelSourceError,
    NoChampionError,
    by_sign,
    check_upload,
    list_recordings,
    load_model_file,
    load_registered_model,
    top_k,
)
from islr.serving.classifier import softmax
from islr.text import Composer, ComposerConfig
from islr.text.glosses import plain_sentence

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app" / "main.py"
MODEL_NAME = "islr-sign-classifier"

# Builds every model the tests serve, in its own process like a training pipeline would
# (so this test process keeps MLflow's global tracking URI untouched).
BUILD_MODELS = r"""
import sys
from pathlib import Path

import keras
import mlflow
import numpy as np
import tensorflow as tf

from islr.models.zoo import ModelConfig, build_model

out = Path(sys.argv[1])
keras.utils.set_random_seed(0)
config = ModelConfig(architecture="cnn", dim=16, max_len=32, conv_blocks=1, stages=1)
model = build_model(config)
model.save(out / "model.keras")

uri = f"sqlite:///{out}/mlflow.db"
mlflow.set_tracking_uri(uri)
experiment = mlflow.create_experiment("app-tests", artifact_location=(out / "mlruns").as_uri())
with mlflow.start_run(experiment_id=experiment):
    info = mlflow.keras.log_model(
        model, name="model", registered_model_name=sys.argv[2], pip_requirements=["keras"]
    )
mlflow.MlflowClient().set_registered_model_alias(
    sys.argv[2], "champion", info.registered_model_version
)

# TFLite files with the competition's signature: mean landmark -> constant linear layer.
weights = np.random.default_rng(0).normal(size=(3, 250)).astype("float32")
np.save(out / "tflite_weights.npy", weights)
for name, final in (("probs", tf.nn.softmax), ("scores", tf.identity)):
    @tf.function(input_signature=[tf.TensorSpec([None, 543, 3], tf.float32, name="inputs")])
    def serve(inputs):
        x = tf.where(tf.math.is_nan(inputs), tf.zeros_like(inputs), inputs)
        mean = tf.reduce_mean(x, axis=[0, 1])
        return {"outputs": final(tf.linalg.matvec(weights, mean, transpose_a=True))}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function()], tf.Module()
    )
    (out / f"{name}.tflite").write_bytes(converter.convert())


# a file that loads in the serving signature but fails at run time on any T but 10
@tf.function(input_signature=[tf.TensorSpec([None, 543, 3], tf.float32, name="inputs")])
def fixed(inputs):
    flat = tf.reshape(tf.where(tf.math.is_nan(inputs), 0.0, inputs), [10 * 543 * 3])
    return {"outputs": tf.nn.softmax(tf.tile(flat[:1], [250]))}


converter = tf.lite.TFLiteConverter.from_concrete_functions(
    [fixed.get_concrete_function()], tf.Module()
)
(out / "fixed.tflite").write_bytes(converter.convert())
print("built", out)
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> SimpleNamespace:
    out = tmp_path_factory.mktemp("app-models")
    done = run_cli("-c", BUILD_MODELS, str(out), MODEL_NAME, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return SimpleNamespace(
        dir=out,
        uri=f"sqlite:///{out}/mlflow.db",
        keras=out / "model.keras",
        probs_tflite=out / "probs.tflite",
        scores_tflite=out / "scores.tflite",
        fixed_tflite=out / "fixed.tflite",
        tflite_weights=np.load(out / "tflite_weights.npy"),
    )


@pytest.fixture(scope="module")
def keras_model(models):
    import keras

    import islr.models.zoo  # noqa: F401  (registers the layers)

    return keras.saving.load_model(models.keras, safe_mode=True)


def expected_keras(model, frames: np.ndarray) -> np.ndarray:
    import keras

    return softmax(np.asarray(keras.ops.convert_to_numpy(model(frames[None])), np.float64)[0])


def expected_tflite(weights: np.ndarray, frames: np.ndarray) -> np.ndarray:
    mean = np.nan_to_num(frames.astype(np.float64)).mean(axis=(0, 1))
    return mean @ weights.astype(np.float64)  # raw scores


@pytest.fixture
def app(monkeypatch):
    """Start the app script with command-line arguments, as `scripts/app.sh` passes them."""
    for var in ("MLFLOW_TRACKING_URI", "ISLR_APP_MODEL", "ISLR_APP_DATA"):
        monkeypatch.delenv(var, raising=False)

    def start(*args: str) -> AppTest:
        monkeypatch.setattr(sys, "argv", [str(APP), *map(str, args)])
        at = AppTest.from_file(str(APP), default_timeout=180)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return start


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def recording_file(real_data_dir: Path, sign: str, index: int = 0) -> Path:
    return Path(by_sign(list_recordings(real_data_dir))[sign][index].file)


# --- the serving library ----------------------------------------------------------------


def test_model_files_and_registry_load(models, keras_model, real_data_dir, tmp_path):
    frames = check_upload("x.parquet", recording_file(real_data_dir, "green").read_bytes())
    registered = load_registered_model(models.uri, MODEL_NAME, "champion")
    assert registered.info.version == "1" and registered.info.run_id
    np.testing.assert_allclose(
        registered.predict(frames), expected_keras(keras_model, frames), rtol=1e-5, atol=1e-7
    )
    raw = expected_tflite(models.tflite_weights, frames)
    # a model ending in a softmax is used as is; raw scores get one
    np.testing.assert_allclose(
        load_model_file(models.probs_tflite).predict(frames), softmax(raw), rtol=1e-4
    )
    np.testing.assert_allclose(
        load_model_file(models.scores_tflite).predict(frames), softmax(raw), rtol=1e-4
    )
    with pytest.raises(ModelSourceError, match=r"model\.onnx: unknown model file type '\.onnx'"):
        load_model_file(tmp_path / "model.onnx")
    with pytest.raises(ModelSourceError, match="does not exist"):
        load_model_file(tmp_path / "missing.keras")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelSourceError, match=r"broken\.tflite: not a TFLite model"):
        load_model_file(broken)
    with pytest.raises(NoChampionError, match=r"alias 'staging'.*bash scripts/main\.sh"):
        load_registered_model(models.uri, MODEL_NAME, "staging")
    missing_db = tmp_path / "none" / "mlflow.db"
    with pytest.raises(NoChampionError, match="no MLflow database"):
        load_registered_model(f"sqlite:///{missing_db}")
    assert not missing_db.exists()  # looking never creates a store


# --- the app ------------------------------------------------------------------------------


def test_select_a_recording_and_show_its_animation(app, models, real_data_dir, tmp_path):
    at = app("--model", models.keras, "--data", real_data_dir, "--composer-backend", "plain")
    sign = at.selectbox(key="sign")
    # one entry per sign of the folder, with its number of recordings
    assert sign.options == [
        "green (1 recording)",
        "hello (4 recordings)",
        "thankyou (4 recordings)",
    ]
    sign.select("thankyou").run()
    recording = at.selectbox(key="recording:thankyou")
    assert len(recording.options) == 4
    assert recording.value == "2044/2725316664"
    assert not at.get("iframe")  # drawn only on request

    at.button(key="animate").click().run()
    (player,) = at.get("iframe")
    html = player.proto.srcdoc
    assert "<script" in html and "Animation(" in html
    assert html.count("data:image/png;base64") == 6  # every frame of this recording
    assert "https://" not in html and "http://" not in html  # works offline
    assert any("Ground truth: **thankyou**" in c for c in texts(at.caption))

    # another recording: the animation is not shown until asked for again
    at.selectbox(key="recording:thankyou").select("4718/1339088376").run()
    assert not at.get("iframe")
    assert not at.exception


def test_classify_twice_translate_and_clear(app, models, keras_model, real_data_dir, tiny_t5):  # noqa: F811
    composer_yaml = Path(tiny_t5).parent / "app-composer.yaml"
    composer_yaml.write_text(
        yaml.safe_dump(
            {"checkpoint": str(tiny_t5), "decoding": {"num_beams": 1, "max_new_tokens": 12}}
        )
    )
    at = app(
        "--tracking-uri",
        models.uri,
        "--data",
        real_data_dir,
        "--composer-config",
        composer_yaml,
    )
    assert f"Model: {MODEL_NAME} version 1 (@champion)" in texts(at.caption)
    assert at.button(key="translate").disabled  # nothing to translate yet

    at.button(key="classify").click().run()  # the first sign, green
    green = check_upload("g.parquet", recording_file(real_data_dir, "green").read_bytes())
    expected = top_k(expected_keras(keras_model, green), 5)
    shown = at.table[0].value
    assert list(shown["sign"]) == [p.sign for p in expected]
    assert [float(v) for v in shown["probability"]] == pytest.approx(
        [p.probability for p in expected], abs=1e-3
    )
    assert at.session_state["keywords"] == [expected[0].sign]

    at.selectbox(key="sign").select("hello").run()
    at.button(key="classify").click().run()
    hello = check_upload("h.parquet", recording_file(real_data_dir, "hello").read_bytes())
    second = top_k(expected_keras(keras_model, hello), 1)[0].sign
    keywords = [expected[0].sign, second]
    assert at.session_state["keywords"] == keywords
    assert " ".join(f"`{w}`" for w in keywords) in texts(at.markdown)

    at.button(key="translate").click().run()
    reference = Composer(ComposerConfig.from_yaml(composer_yaml)).compose(keywords)
    assert texts(at.success) == [reference.sentence or "(the model returned no text)"]
    assert f"backend: t5 (checkpoint {Path(tiny_t5).resolve()})" in texts(at.caption)

    at.button(key="clear").click().run()
    assert at.session_state["keywords"] == []
    assert not at.success and at.button(key="translate").disabled
    assert not at.exception


def test_translate_without_a_checkpoint_says_it_used_the_plain_backend(
    app, models, keras_model, real_data_dir, tmp_path
):
    at = app(
        "--model",
        models.keras,
        "--data",
        real_data_dir,
        "--composer-checkpoint",
        tmp_path / "no-such-checkpoint",
    )
    at.button(key="classify").click().run()
    at.button(key="classify").click().run()
    words = at.session_state["keywords"]
    assert len(words) == 2 and words[0] == words[1]
    at.button(key="translate").click().run()
    assert texts(at.success) == [plain_sentence(words)]
    assert "backend: plain" in texts(at.caption)
    assert at.expander[0].label == "Why not T5"
    assert "not available offline" in at.expander[0].markdown[0].value


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_bad_uploads_show_a_readable_error(app, models, real_data_dir):
    at = app("--model", models.keras, "--data", real_data_dir)
    at.radio(key="source").set_value("Upload a parquet file").run()
    good = pq.read_table(recording_file(real_data_dir, "hello"))
    x_as_text = good.set_column(4, "x", pa.array([str(v) for v in good.column("x").to_pylist()]))
    cases = [
        ("garbage.parquet", b"not parquet at all", "readable parquet file"),
        ("text-x.parquet", _parquet_bytes(x_as_text), "x is string (expected double)"),
        ("cut.parquet", _parquet_bytes(good.slice(0, 1000)), "1000 rows (457 left over"),
    ]
    for name, content, observed in cases:
        at.file_uploader(key="upload").set_value((name, content, "application/octet-stream"))
        at.run()
        assert not at.exception, f"{name}: {[e.value for e in at.exception]}"
        (error,) = texts(at.error)
        assert error.startswith(f"{name}: not a valid asl-signs recording")
        assert observed in error
        issues = at.table[0].value
        assert list(issues.columns) == ["file", "check", "observed"]
        assert set(issues["file"]) == {name}
        assert not [b for b in at.button if b.key == "classify"]  # nothing to classify


def test_good_upload_classifies_with_a_tflite_model(app, models, real_data_dir):
    at = app("--model", models.probs_tflite, "--data", real_data_dir)
    assert any(str(models.probs_tflite) in c for c in texts(at.caption))
    at.radio(key="source").set_value("Upload a parquet file").run()
    file = recording_file(real_data_dir, "thankyou", 2)
    at.file_uploader(key="upload").set_value((file.name, file.read_bytes(), "application/x"))
    at.run()
    frames = check_upload(file.name, file.read_bytes())
    assert f"{file.name}: valid, {len(frames)} frames." in texts(at.caption)
    at.button(key="classify").click().run()
    expected = top_k(softmax(expected_tflite(models.tflite_weights, frames)), 5)
    assert list(at.table[0].value["sign"]) == [p.sign for p in expected]
    assert at.session_state["keywords"] == [expected[0].sign]
    assert not at.exception


def test_uploaded_video_is_extracted_animated_and_classified_by_the_champion(
    app,
    models,
    keras_model,
    real_data_dir,
    hopper_clip,  # noqa: F811
    tmp_path,
):
    from islr.data.format import read_recording
    from islr.landmarks import extract_video

    at = app("--tracking-uri", models.uri, "--data", real_data_dir, "--composer-backend", "plain")
    at.radio(key="source").set_value("Upload a video").run()
    content = hopper_clip.read_bytes()
    at.file_uploader(key="video_upload").set_value(("hopper.mp4", content, "video/mp4"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert (
        "hopper.mp4: 12 frames extracted (face 12, left hand 0, pose 12, right hand 0)."
        in texts(at.caption)
    )
    (warning,) = texts(at.warning)
    assert warning.startswith("no hand was detected in any frame")
    (recording,) = at.session_state["videos"].values()
    # the frames the app holds are those `islr landmarks` writes for the same video
    extract_video(hopper_clip, tmp_path / "hopper.parquet")
    np.testing.assert_allclose(
        recording.frames, read_recording(tmp_path / "hopper.parquet"), atol=1e-6
    )

    at.button(key="animate").click().run()
    (player,) = at.get("iframe")
    assert player.proto.srcdoc.count("data:image/png;base64") == 12
    at.button(key="classify").click().run()
    expected = top_k(expected_keras(keras_model, recording.frames), 5)
    assert list(at.table[0].value["sign"]) == [p.sign for p in expected]
    assert at.session_state["keywords"] == [expected[0].sign]
    assert any("video hopper.mp4" in c for c in texts(at.caption))

    # a file that is not a video: one message, nothing to classify
    at.file_uploader(key="video_upload").set_value(("notes.mp4", b"not a video", "video/mp4"))
    at.run()
    (error,) = texts(at.error)
    assert error.startswith("notes.mp4: a video file (MP4, MOV, WebM or AVI)")
    assert not [b for b in at.button if b.key == "classify"]
    assert not at.exception


def test_no_champion_page_says_how_to_make_one(app, models, tmp_path):
    at = app("--tracking-uri", models.uri, "--alias", "staging")
    assert texts(at.header) == ["No champion model yet"]
    (error,) = texts(at.error)
    assert "no version of model 'islr-sign-classifier' has the alias 'staging'" in error
    assert any("bash scripts/main.sh" in m for m in texts(at.markdown))
    assert not at.button  # no classify, translate, ...

    empty = tmp_path / "fresh" / "mlflow.db"
    at = app("--tracking-uri", f"sqlite:///{empty}")
    assert texts(at.header) == ["No champion model yet"]
    assert f"no MLflow database at {empty}" in texts(at.error)[0]
    assert not empty.exists()


def test_a_bad_model_file_gets_a_page_not_a_traceback(app, tmp_path):
    at = app("--model", tmp_path / "model.pt")
    assert texts(at.header) == ["The model cannot be served"]
    assert "model.pt: unknown model file type '.pt'" in texts(at.error)[0]
    at = app("--top-k", "0")
    assert "top_k" in texts(at.error)[0]


# What the app image (docker/app.Dockerfile) leaves out; its app must run without them.
APP_IMAGE_SCRIPT = r"""
import importlib.abc
import sys

BLOCKED = {"keras", "tensorflow", "mlflow", "zenml", "torch", "transformers", "sklearn"}


class NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not in the app image")
        return None


sys.meta_path.insert(0, NotInTheImage())
from streamlit.testing.v1 import AppTest

app, model, data = sys.argv[1:4]
sys.argv = [app, "--model", model, "--data", data, "--composer-backend", "plain"]
at = AppTest.from_file(app, default_timeout=120)
at.run()
assert not at.exception, [e.value for e in at.exception]
at.button(key="animate").click().run()
assert at.get("iframe") and not at.exception, [e.value for e in at.exception]
at.button(key="classify").click().run()
assert len(at.table[0].value) == 5 and not at.exception, [e.value for e in at.exception]
at.button(key="translate").click().run()
assert at.success and not at.exception, [e.value for e in at.exception]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("served", at.session_state["keywords"])
"""


def test_the_app_image_runs_a_tflite_model_without_tensorflow(models, real_data_dir):
    done = run_cli("-c", APP_IMAGE_SCRIPT, str(APP), str(models.probs_tflite), str(real_data_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "served [" in done.stdout


def test_a_model_that_fails_at_run_time_gets_a_message(app, models, real_data_dir):
    at = app("--model", models.fixed_tflite, "--data", real_data_dir, "--composer-backend", "plain")
    at.button(key="classify").click().run()  # green: 105 frames, not the 10 the file needs
    assert not at.exception, [e.value for e in at.exception]
    (error,) = texts(at.error)
    assert "could not classify" in error and "fixed.tflite" in error
    assert at.session_state["keywords"] == []
