"""Every architecture builds from its config, ignores padding end to end, trains, and
reloads in safe mode."""

import keras
import numpy as np
import pytest
from tiny_zoo import ARCHS, TINY, recordings

from islr.models.zoo import ModelConfig, build_model


@pytest.mark.parametrize("arch", ARCHS)
def test_architecture_trains_and_ignores_padding(arch, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(architecture=arch, **TINY))
    rng = np.random.default_rng(0)
    x = recordings(rng, [12, 1, 7, 20], 20)
    # padding: the same recordings padded further give the same logits
    out = keras.ops.convert_to_numpy(model(x, training=False))
    more = np.concatenate([x, np.full((4, 9, 543, 3), np.nan, "float32")], axis=1)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(more)), atol=1e-4)
    assert out.shape == (4, 5) and np.isfinite(out).all()

    y = keras.utils.to_categorical([0, 1, 2, 3], 5)
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=3, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(loaded(x)), atol=1e-5
    )
