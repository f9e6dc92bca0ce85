"""A model compiled with these losses and metrics saves as .keras and reloads without
custom_objects, configuration included."""

import keras
import numpy as np
import pytest

from keras_seg import losses


@pytest.mark.parametrize(
    ("num_classes", "make_loss"),
    [(1, lambda: losses.focal_loss(gamma=3.0, alpha=0.4)),
     (3, lambda: losses.get("dice_ce", ignore_index=255, include_background=False))],
    ids=["focal", "dice_ce"],
)
def test_compiled_model_round_trip(tmp_path, num_classes, make_loss):
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1)).astype("float32")
    if num_classes == 1:
        y = (x > 0.5).astype("float32")
        metrics = [losses.dice_coef, losses.iou, losses.MeanIoU()]
    else:
        y = np.where(x[..., 0] > 0.9, 255, (x[..., 0] * 3).astype("int32"))
        metrics = None
    inputs = keras.Input((8, 8, 1))
    activation = "sigmoid" if num_classes == 1 else "softmax"
    outputs = keras.layers.Conv2D(num_classes, 1, activation=activation, name="head")(inputs)
    model = keras.Model(inputs, outputs)
    loss = make_loss()
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)

    restored = keras.models.load_model(path)
    assert type(restored.loss) is type(loss)
    assert restored.loss.get_config() == loss.get_config()
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    after = restored.evaluate(x, y, verbose=0, return_dict=True)
    assert before.keys() == after.keys()
    for key, value in before.items():
        np.testing.assert_allclose(after[key], value, rtol=1e-5)
