"""The serving library under the app: settings from arguments over the environment,
probabilities and top-k, skeleton segments and upload checks (the app itself, with real
models, is tests/integration/test_app.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from islr.errors import ConfigError
from islr.serving import (
    UploadError,
    by_sign,
    check_upload,
    list_recordings,
    load_settings,
    skeleton_segments,
    to_probabilities,
    top_k,
)
from islr.serving.classifier import softmax


def recording_file(real_data_dir: Path, sign: str, index: int = 0) -> Path:
    return Path(by_sign(list_recordings(real_data_dir))[sign][index].file)


def test_settings_come_from_arguments_over_environment(tmp_path):
    env = {"ISLR_APP_DATA": "/from/env", "ISLR_APP_MODEL": "/env/model.keras"}
    settings = load_settings(["--data", str(tmp_path), "--top-k", "3"], env)
    assert settings.data_dir == tmp_path and settings.top_k == 3
    assert settings.model == Path("/env/model.keras")
    composer = settings.composer()
    assert composer.fallback == "plain" and composer.backend == "t5"
    strict = load_settings(["--no-composer-fallback", "--composer-backend", "plain"], {})
    assert strict.composer().fallback is None and strict.composer().backend == "plain"
    with pytest.raises(ConfigError, match=r"top_k.*got 0"):
        load_settings(["--top-k", "0"], {})
    with pytest.raises(ConfigError, match="--bogus"):
        load_settings(["--bogus"], {})


def test_app_offline_switch_reaches_the_composer():
    assert load_settings([], {}).composer().offline is False
    assert load_settings(["--offline"], {}).composer().offline is True
    assert load_settings([], {"ISLR_APP_OFFLINE": "1"}).composer().offline is True


def test_probabilities_and_top_k():
    logits = np.zeros(250)
    logits[[7, 3, 9]] = [5.0, 4.0, 3.0]
    probs = to_probabilities(logits)
    assert probs.sum() == pytest.approx(1.0) and probs[7] > probs[3] > probs[9] > probs[0]
    already = softmax(logits)
    np.testing.assert_allclose(to_probabilities(already), already)  # no second softmax
    best = top_k(probs, k=3)
    from islr.data.format import index_to_sign

    assert [p.index for p in best] == [7, 3, 9]
    assert [p.sign for p in best] == [index_to_sign()[i] for i in (7, 3, 9)]
    with pytest.raises(ValueError, match="250 class probabilities"):
        top_k(np.ones(10) / 10)


def test_skeleton_segments_follow_the_detected_landmarks(real_data_dir):
    frames = recording_file(real_data_dir, "thankyou").as_posix()
    from islr.data.format import PART_SLICES, read_recording

    frame = read_recording(frames)[0]
    segments = skeleton_segments(frame)
    hand = frame[PART_SLICES["right_hand"], :2]
    # first hand connection: wrist (0) -> thumb (1), then a NaN gap
    np.testing.assert_allclose(segments["right_hand"][:2], hand[[0, 1]])
    assert np.isnan(segments["right_hand"][2]).all()
    assert segments["pose"].shape[1] == 2 and np.isfinite(segments["pose"]).any()
    frame[PART_SLICES["left_hand"]] = np.nan  # an undetected hand draws nothing
    assert np.isnan(skeleton_segments(frame)["left_hand"]).all()


def test_upload_checks_reuse_the_pipeline_validation(real_data_dir):
    good = recording_file(real_data_dir, "hello")
    frames = check_upload(good.name, good.read_bytes())
    assert frames.shape == (6, 543, 3) and frames.dtype == np.float32
    with pytest.raises(UploadError, match=r"notes\.txt: .*file type is \.parquet"):
        check_upload("notes.txt", b"hello")
