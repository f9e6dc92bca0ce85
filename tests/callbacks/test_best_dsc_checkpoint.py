"""BestDSCCheckpoint: val_dsc against an independent numpy DSC, best-model saving, multi-class."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seg.callbacks import BestDSCCheckpoint, save_atomically
from keras_seg.metrics import class_slice_sums, per_volume_class_dsc

# A 1x1 conv with sigmoid: prediction > 0.5 exactly where kernel * x + bias > 0. The weights of
# each epoch are scripted, so each epoch's DSC is known without Keras.
SCHEDULE = [(1.0, -0.1), (1.0, -0.5), (1.0, -1.3), (1.0, -2.0)]  # (kernel, bias) per epoch


def one_by_one_model():
    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
    return model


def validation_slices(seed=0):
    """Three volumes of 32x32 slices: noisy images around a square truth, one empty volume."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((7, 32, 32, 1), np.float32)
    truth[:5, 8:20, 10:24] = 1.0
    truth[1, :, :] = 0.0  # an empty slice inside a labelled volume
    images = (truth + rng.normal(0.0, 0.35, truth.shape)).astype(np.float32)
    volume_ids = np.array(["a", "a", "a", "b", "b", "c", "c"])  # "c": empty truth
    return images, truth, volume_ids


def numpy_per_volume_dsc(pred_fg, truth, volume_ids):
    """Independent reference: pool each volume's slices, Dice, empty-truth policy 1/0."""
    scores = {}
    for v in dict.fromkeys(volume_ids):
        p, t = pred_fg[volume_ids == v].astype(bool), truth[volume_ids == v] > 0.5
        if t.sum() == 0:
            scores[v] = 1.0 if p.sum() == 0 else 0.0
        else:
            scores[v] = 2.0 * (p & t).sum() / (p.sum() + t.sum())
    return scores


class ScriptWeights(keras.callbacks.Callback):
    """Set the head to SCHEDULE[epoch] at each epoch end, before the checkpoint scores it."""

    def on_epoch_end(self, epoch, logs=None):
        kernel, bias = SCHEDULE[epoch]
        self.model.get_layer("head").set_weights([np.full((1, 1, 1, 1), kernel, np.float32),
                                                  np.full((1,), bias, np.float32)])


def test_val_dsc_matches_numpy_and_best_epoch_is_saved(tmp_path):
    images, truth, volume_ids = validation_slices()
    val_ds = tf.data.Dataset.from_tensor_slices((images, truth)).batch(3)
    model = one_by_one_model()
    checkpoint = BestDSCCheckpoint(val_ds, volume_ids, str(tmp_path / "best.keras"), verbose=0)
    history = model.fit(images, truth, batch_size=7, epochs=len(SCHEDULE), verbose=0,
                        callbacks=[ScriptWeights(), checkpoint,
                                   keras.callbacks.CSVLogger(str(tmp_path / "h.csv"))])

    expected = [numpy_per_volume_dsc(k * images[..., 0] + b > 0, truth[..., 0], volume_ids)
                for k, b in SCHEDULE]
    means = [float(np.mean(list(e.values()))) for e in expected]
    np.testing.assert_allclose(history.history["val_dsc"], means, rtol=1e-12)
    with open(tmp_path / "h.csv") as f:
        np.testing.assert_allclose([float(r["val_dsc"]) for r in csv.DictReader(f)], means)
    best_epoch = int(np.argmax(means))
    assert 0 < best_epoch < len(SCHEDULE) - 1, "the schedule must put the best in the middle"
    assert checkpoint.best_epoch == best_epoch and checkpoint.best == pytest.approx(max(means))
    assert checkpoint.best_scores == pytest.approx(expected[best_epoch])
    assert checkpoint.last_scores == pytest.approx(expected[-1])

    saved = keras.models.load_model(tmp_path / "best.keras")
    kernel, bias = SCHEDULE[best_epoch]
    np.testing.assert_allclose(saved.predict_on_batch(images),
                               1 / (1 + np.exp(-(kernel * images + bias))), rtol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras", "h.csv"]


def test_deep_supervision_scores_the_chosen_output_and_ignores_zero_weight_pixels():
    images, truth, volume_ids = validation_slices(seed=1)
    inputs = keras.Input((None, None, 1))
    good = keras.layers.Conv2D(1, 1, activation="sigmoid", name="good")(inputs)
    bad = keras.layers.Conv2D(1, 1, activation="sigmoid", name="bad")(inputs)
    model = keras.Model(inputs, [bad, good])
    model.get_layer("good").set_weights([np.ones((1, 1, 1, 1), np.float32), np.full(1, -0.5)])
    model.get_layer("bad").set_weights([-np.ones((1, 1, 1, 1), np.float32), np.zeros(1)])
    weights = np.ones_like(truth)
    weights[:, :, :16] = 0.0  # ignore the left half
    val_ds = tf.data.Dataset.from_tensor_slices((images, (truth, truth), weights)).batch(4)

    checkpoint = BestDSCCheckpoint(val_ds, volume_ids, filepath=None)
    checkpoint.set_model(model)
    right = np.s_[:, :, 16:]
    expected = numpy_per_volume_dsc((images[..., 0] - 0.5 > 0)[right], truth[..., 0][right],
                                    volume_ids)
    assert checkpoint.evaluate() == pytest.approx(expected)
    checkpoint.output_index = 0
    assert checkpoint.evaluate() != pytest.approx(expected)


def test_multi_class_scores_average_foreground_classes_per_volume():
    # Two volumes of one 1x4 slice each, three classes (0 = background).
    truth = np.array([[1, 1, 2, 0], [0, 0, 2, 2]]).reshape(2, 1, 4, 1)
    pred_ids = np.array([[1, 0, 2, 2], [0, 1, 1, 1]])
    pred = np.eye(3, dtype=np.float32)[pred_ids].reshape(2, 1, 4, 3) * 0.9 + 0.03
    sums = class_slice_sums(pred, truth)
    # volume a: class 1 I=1 P=1 T=2; class 2 I=1 P=2 T=1. volume b: class 1 I=0 P=3 T=0;
    # class 2 I=0 P=0 T=2.
    np.testing.assert_array_equal(sums, [[[1, 1, 2], [1, 2, 1]], [[0, 3, 0], [0, 0, 2]]])
    scores = per_volume_class_dsc(sums, ["a", "b"])
    assert scores == pytest.approx({"a": (2 / 3 + 2 / 3) / 2, "b": 0.0})
    one_hot = np.eye(3)[truth[..., 0]]
    np.testing.assert_array_equal(class_slice_sums(pred, one_hot), sums)
    # A class absent from truth and prediction counts 1 (the empty-truth policy).
    assert per_volume_class_dsc(class_slice_sums(pred[:1], truth[:1] * 0), ["a"]) == {"a": 0.0}
    assert per_volume_class_dsc(np.zeros((1, 2, 3)), ["a"]) == {"a": 1.0}


def test_volume_id_count_must_match_the_validation_slices():
    images, truth, volume_ids = validation_slices()
    checkpoint = BestDSCCheckpoint([(images, truth)], volume_ids[:-1], filepath=None)
    checkpoint.set_model(one_by_one_model())
    with pytest.raises(ValueError, match="7 slices but volume_ids has 6"):
        checkpoint.evaluate()


def test_a_crash_mid_save_leaves_the_previous_file_intact(tmp_path):
    model = one_by_one_model()
    path = tmp_path / "best.keras"
    save_atomically(model, str(path))
    before = path.read_bytes()

    class Crash(RuntimeError):
        pass

    def broken_save(filepath, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a zip")
        raise Crash

    model.save = broken_save
    with pytest.raises(Crash):
        save_atomically(model, str(path))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]
    keras.models.load_model(path)
