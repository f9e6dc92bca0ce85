"""LRFinder / find_lr on problems whose good learning rates are known by hand."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seg.callbacks import LRFinder, find_lr

BATCHES, BATCH, SIZE = 12, 4, 32


def regression_batches(seed=0):
    """y = 3x - 1 pixelwise, x ~ N(0, 1): for a linear 1x1 conv under MSE the Hessian's
    eigenvalues are 2 E[x^2] = 2 and 2, so plain SGD converges for lr < 1 and diverges above.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCHES * BATCH, SIZE, SIZE, 1)).astype(np.float32)
    return x, 3.0 * x - 1.0


def linear_model(optimizer):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 1))
    outputs = keras.layers.Conv2D(1, 1, name="linear")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer, "mse")
    return model


def test_suggestion_lies_where_sgd_loss_falls(tmp_path):
    x, y = regression_batches()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    model = linear_model(keras.optimizers.SGD(0.01))
    kernel, bias = (w.copy() for w in model.get_layer("linear").get_weights())
    num_steps = 150  # one epoch is 12 batches: at least min_steps, over several epochs

    result = find_lr(model, dataset, str(tmp_path), min_steps=num_steps)
    assert result["num_steps"] == num_steps

    # The sweep: lr_i = 1e-8 * mult**i, mult = (10 / 1e-8)**(1 / 149).
    mult = (10.0 / 1e-8) ** (1 / (num_steps - 1))
    lrs = np.array(result["lr"])
    np.testing.assert_allclose(lrs, 1e-8 * mult ** np.arange(len(lrs)), rtol=1e-9)
    # Divergence above lr = 1 stops the sweep early, once smoothed > 4 x best.
    assert result["stopped_early"] and len(lrs) < num_steps
    smoothed = np.array(result["smoothed_loss"])
    assert smoothed[-1] > 4 * smoothed[:-1].min()
    assert np.all(smoothed[:-1] <= 4 * np.minimum.accumulate(smoothed[:-1]))
    # The losses are per batch: at lr < 1e-6 the weights have not moved, so each recorded loss
    # is the MSE of its own batch under the initial weights.
    initial = [np.mean((kernel[0, 0, 0, 0] * x[i * BATCH:(i + 1) * BATCH] + bias[0]
                        - y[i * BATCH:(i + 1) * BATCH]) ** 2) for i in range(BATCHES)]
    np.testing.assert_allclose(result["loss"][:BATCHES], initial, rtol=1e-4)
    # Bias-corrected smoothing, recomputed.
    avg, expected = 0.0, []
    for i, loss in enumerate(result["loss"], start=1):
        avg = 0.98 * avg + 0.02 * loss
        expected.append(avg / (1 - 0.98 ** i))
    np.testing.assert_allclose(smoothed, expected, rtol=1e-9)
    # The minimum rule: a decade below the minimum. The default suggestion (valley) lies inside
    # the stable range lr < 1 where the loss falls, and is high enough to learn: 30 SGD steps at
    # it from the start cut the loss tenfold.
    i_min = int(np.argmin(smoothed))
    assert result["min_loss_lr"] == lrs[i_min]
    assert result["suggestions"]["minimum"] == pytest.approx(lrs[i_min] / 10)
    assert result["rule"] == "valley"
    assert result["suggested_lr"] == result["suggestions"]["valley"]
    assert 1e-3 < result["suggested_lr"] < 1.0
    check = linear_model(keras.optimizers.SGD(result["suggested_lr"]))
    start = check.evaluate(x, y, verbose=0)
    check.fit(dataset.repeat(3).take(30), verbose=0, shuffle=False)
    assert check.evaluate(x, y, verbose=0) < start / 10

    with open(tmp_path / "lr_finder.json") as f:
        assert json.load(f) == result
    assert (tmp_path / "lr_finder.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The model is as before the sweep, learning rate included.
    np.testing.assert_array_equal(model.get_layer("linear").get_weights()[0], kernel)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def conv_bn_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Activation("relu")(h)
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    return model


def segmentation_batches():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, SIZE, SIZE, 1)).astype(np.float32)
    return x, (x > 0.3).astype(np.float32)


def values(variables):
    return [np.array(v) for v in variables]


def test_weights_and_optimizer_state_are_restored(tmp_path):
    x, y = segmentation_batches()
    model = conv_bn_model()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # a built optimizer with moments
    weights, state = values(model.variables), values(model.optimizer.variables)
    assert state[0] == 4 and any(np.abs(s).sum() > 0 for s in state[2:])

    finder = LRFinder(num_steps=20, output_dir=None)
    model.fit(x, y, batch_size=4, epochs=10, verbose=0, callbacks=[finder])

    assert len(finder.lrs) <= 20 and finder.lrs[-1] > 1e-3
    for before, after in zip(weights, values(model.variables), strict=True):
        np.testing.assert_array_equal(after, before)
    for before, after in zip(state, values(model.optimizer.variables), strict=True):
        np.testing.assert_array_equal(after, before)
    assert not list(tmp_path.iterdir())


def test_swept_model_trains_as_if_never_swept(tmp_path):
    x, y = segmentation_batches()
    swept, fresh = conv_bn_model(), conv_bn_model()
    assert not swept.optimizer.built
    find_lr(swept, tf.data.Dataset.from_tensor_slices((x, y)).batch(4), str(tmp_path),
            min_steps=2)  # one epoch: 4 batches
    assert int(swept.optimizer.iterations) == 0
    assert float(swept.optimizer.learning_rate) == pytest.approx(1e-3)
    for model in (swept, fresh):
        for i in range(3):
            model.train_on_batch(x[4 * i:4 * i + 4], y[4 * i:4 * i + 4])
    for a, b in zip(values(swept.variables), values(fresh.variables), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    result = json.loads((tmp_path / "lr_finder.json").read_text())
    assert result["num_steps"] == 4 and result["lr"][0] == 1e-8


@pytest.mark.parametrize("kwargs, message", [
    ({"init": 1.0, "final": 0.1}, "0 < init < final"),
    ({"num_steps": 1}, "num_steps >= 2"),
])
def test_invalid_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LRFinder(**kwargs)


def test_unknown_epoch_length_needs_num_steps(tmp_path):
    x, y = segmentation_batches()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    with pytest.raises(ValueError, match="pass num_steps"):
        find_lr(conv_bn_model(), dataset, str(tmp_path))


def test_an_interrupted_sweep_still_restores_the_model(tmp_path):
    x, y = segmentation_batches()
    model = conv_bn_model()
    weights = values(model.variables)

    def batches():
        for i in range(3):
            yield x[4 * i:4 * i + 4], y[4 * i:4 * i + 4]
        raise RuntimeError("reader failed")

    spec = tf.TensorSpec((None, SIZE, SIZE, 1), tf.float32)
    dataset = tf.data.Dataset.from_generator(batches, output_signature=(spec, spec))
    with pytest.raises(Exception, match="reader failed"):
        find_lr(model, dataset, str(tmp_path), init=1e-2, final=10.0, num_steps=8)
    for before, after in zip(weights, values(model.variables), strict=True):
        np.testing.assert_array_equal(after, before)
    assert int(model.optimizer.iterations) == 0


def test_a_learning_rate_schedule_is_refused_with_a_clear_message(tmp_path):
    x, y = segmentation_batches()
    model = conv_bn_model()
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 10)),
                  "binary_crossentropy")
    with pytest.raises(ValueError, match="LearningRateSchedule"):
        find_lr(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(4), str(tmp_path))


def test_each_suggestion_rule_on_a_hand_made_curve():
    from keras_seg.callbacks.lr_finder import suggest

    lrs = 10.0 ** np.arange(-6, 2)  # log10 spacing 1: the gradient is a plain difference
    # falls (with one bump), reaches its minimum at 1e-1, then diverges
    smoothed = np.array([1.0, 0.99, 0.995, 0.6, 0.3, 0.25, 0.9, np.inf])
    out = suggest(lrs, smoothed)
    assert out["minimum"] == pytest.approx(1e-2)  # a decade below 1e-1
    # np.gradient on [1, .99, .995, .6, .3, .25]: [-.01, -.0025, -.195, -.3475, -.175, -.05]
    assert out["steepest"] == pytest.approx(1e-3)
    # longest decreasing run before the minimum: 1.0, .99, .6, .3, .25 (5 points, the bump at 2
    # skipped), ending at 5; fastai's start is end - 5 = 0, a third of 5 is 5/3: 0 + 1 + 0 = 1
    assert out["valley"] == pytest.approx(1e-5)


def test_rules_fall_back_to_the_minimum_on_a_curve_too_short_before_it():
    from keras_seg.callbacks.lr_finder import suggest

    out = suggest([1e-3, 1e-2, 1e-1], [0.5, 0.4, 0.9])
    assert out == {"minimum": pytest.approx(1e-3), "steepest": pytest.approx(1e-3),
                   "valley": pytest.approx(1e-3)}


def test_the_chosen_rule_gives_the_suggestion_and_an_unknown_rule_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown LR suggestion rule 'fast'"):
        LRFinder(rule="fast")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    result = find_lr(model, ds, str(tmp_path), init=1e-5, final=10.0, num_steps=60,
                     rule="steepest")
    assert result["rule"] == "steepest"
    assert result["suggested_lr"] == result["suggestions"]["steepest"]
    assert set(result["suggestions"]) == {"minimum", "steepest", "valley"}
    assert json.loads((tmp_path / "lr_finder.json").read_text())["rule"] == "steepest"


def test_the_first_tenth_of_the_sweep_does_not_count_for_steepest_and_valley():
    from keras_seg.callbacks.lr_finder import suggest

    lrs = 10.0 ** np.arange(-9, 1)  # 10 points: the first (1e-9) is skipped
    # a steep drop at the start (few batches averaged), then a gentler real descent
    smoothed = np.array([5.0, 1.0, 0.98, 0.9, 0.7, 0.6, 0.55, 0.5, 0.8, 3.0])
    out = suggest(lrs, smoothed)
    assert out["minimum"] == pytest.approx(1e-3)  # minimum at 1e-2 (index 7)
    # np.gradient on [1, .98, .9, .7, .6, .55, .5]: [-.02, -.05, -.14, -.15, -.075, -.05, -.05]
    assert out["steepest"] == pytest.approx(1e-5)  # index 4 of the whole curve
