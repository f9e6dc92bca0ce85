"""TensorBoardImages and choose_slices; the event files read back with EventAccumulator."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from keras_seg.callbacks import BestDSCCheckpoint, TensorBoardImages, choose_slices
from keras_seg.visualize import overlay


def test_choose_slices_prefers_foreground_one_per_volume():
    areas = [0, 5, 9, 0, 0, 2, 7, 0]
    volumes = ["a", "a", "a", "b", "b", "c", "c", "d"]
    masks = np.zeros((8, 4, 4, 1), np.uint8)
    for i, area in enumerate(areas):
        masks[i].flat[:area] = 1
    # Per volume its largest slice (a: 2, c: 6, b: 3, d: 7), larger first (a 9, c 7, then
    # the empty b and d in order), then the rest by area (1: 5, 5: 2, then empties in order).
    np.testing.assert_array_equal(choose_slices(masks, volumes, 8), [2, 6, 3, 7, 1, 5, 0, 4])
    np.testing.assert_array_equal(choose_slices(masks, volumes, 2), [2, 6])


def read_tensors(run_dir):
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: {e.step: tf.make_ndarray(e.tensor_proto) for e in events.Tensors(tag)}
            for tag in events.Tags()["tensors"]}


@pytest.mark.parametrize("epochs, every, logged", [(4, 2, [0, 2, 3]), (3, 2, [0, 2])])
def test_scalars_and_overlays_reach_the_event_files(tmp_path, epochs, every, logged):
    rng = np.random.default_rng(0)
    truth = np.zeros((6, 32, 32, 1), np.float32)
    truth[:, 6:20, 8:22] = 1.0
    truth[3:] = 0.0
    images = (truth + rng.normal(0.0, 0.3, truth.shape)).astype(np.float32)
    volume_ids = np.array(["a", "a", "b", "b", "c", "c"])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    val_ds = tf.data.Dataset.from_tensor_slices((images, truth)).batch(4)
    chosen = choose_slices(truth, volume_ids, 2)
    np.testing.assert_array_equal(chosen, [0, 2])
    log_dir = tmp_path / "tensorboard"

    history = model.fit(images, truth, batch_size=3, epochs=epochs, validation_data=val_ds,
                        verbose=0, callbacks=[
                            BestDSCCheckpoint(val_ds, volume_ids, filepath=None, verbose=0),
                            keras.callbacks.TensorBoard(str(log_dir), write_graph=False),
                            TensorBoardImages(images[chosen], truth[chosen], str(log_dir),
                                              every=every, names=["a_1", "b_1"])])

    validation = read_tensors(log_dir / "validation")
    for name in ("dsc", "loss"):
        values = [float(validation[f"epoch_{name}"][e]) for e in range(epochs)]
        np.testing.assert_allclose(values, history.history[f"val_{name}"], rtol=1e-6)
    train = read_tensors(log_dir / "train")
    np.testing.assert_allclose([float(train["epoch_loss"][e]) for e in range(epochs)],
                               history.history["loss"], rtol=1e-6)
    assert "epoch_learning_rate" in train

    pictures = read_tensors(log_dir / "images")
    assert sorted(pictures) == ["overlay/a_1", "overlay/b_1"]
    pred = model.predict_on_batch(images[chosen])
    for tag, i in (("overlay/a_1", 0), ("overlay/b_1", 1)):
        assert sorted(pictures[tag]) == logged
        width, height, png = pictures[tag][logged[-1]]
        assert (int(width), int(height)) == (32, 32)
        decoded = np.array(Image.open(io.BytesIO(png)))
        np.testing.assert_array_equal(decoded, overlay(images[chosen[i]], truth[chosen[i]],
                                                       pred[i]))
        for colour in ((0, 255, 0), (255, 0, 0)):  # truth and prediction both drawn
            assert np.all(decoded == colour, axis=-1).sum() > 20


def test_every_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="every"):
        TensorBoardImages(np.zeros((1, 4, 4, 1)), None, str(tmp_path), every=0)
