"""`predict`: per-volume DSC against an independent computation, and the report's images."""

import csv

import numpy as np
import pytest
import yaml
from conftest import STRIDE, pixel_logits
from PIL import Image

from keras_seg import data as data_lib
from keras_seg.errors import UserError
from keras_seg.predict import predict, predict_images, resolve_inputs

SIZE = 36  # not a multiple of the pixel model's stride (8): prediction must pad and crop
SYNTHETIC = {"num_volumes": 3, "slices_per_volume": 4}


def expected_masks(images):
    """What the pixel model predicts, computed with numpy: sigmoid(logit) > 0.5 <=> logit > 0."""
    return pixel_logits(images) > 0


def dice(pred, truth):
    """Dice of two boolean arrays, 1 when both are empty."""
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(pred, truth).sum() / total


@pytest.fixture(scope="module")
def report(pixel_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    summary = predict(str(pixel_model_path), data="synthetic", output=str(out), image_size=SIZE,
                      options=SYNTHETIC, verbose=0)
    data = data_lib.load("synthetic", None, SIZE, seed=0, **SYNTHETIC)
    return out, summary, data


def test_per_volume_dsc_csv_matches_an_independent_computation(report):
    out, summary, data = report
    with open(out / "per_volume_dsc.csv") as f:
        rows = list(csv.DictReader(f))
    pred = expected_masks(data.images)
    truth = data.masks[..., 0] > 0
    expected = {v: dice(pred[data.volume_ids == v], truth[data.volume_ids == v])
                for v in data.volumes}
    assert [r["volume"] for r in rows] == data.volumes
    for row in rows:
        assert float(row["dsc"]) == pytest.approx(expected[row["volume"]], abs=1e-12)
        assert int(row["slices"]) == SYNTHETIC["slices_per_volume"]
    assert 0.05 < summary["mean_dsc"] < 0.95  # neither trivial case
    assert summary["mean_dsc"] == pytest.approx(np.mean(list(expected.values())))
    assert summary["median_dsc"] == pytest.approx(np.median(list(expected.values())))


def test_masks_are_the_whole_image_predictions(report):
    out, _, data = report
    pred = expected_masks(data.images)
    for k in (0, 5, 11):
        png = np.asarray(Image.open(out / "masks" / f"{data.names[k]}.png"))
        assert png.shape == (SIZE, SIZE) and set(np.unique(png)) <= {0, 255}
        np.testing.assert_array_equal(png == 255, pred[k])


def test_overlays_outline_the_prediction_in_red_and_the_truth_in_green(report):
    out, _, data = report
    assert len(list((out / "overlays").glob("*.png"))) == len(data)
    pred, truth = expected_masks(data.images), data.masks[..., 0] > 0
    k = int(np.argmax(truth.sum((1, 2))))  # the slice with the largest lesion
    rgb = np.asarray(Image.open(out / "overlays" / f"{data.names[k]}.png").convert("RGB"))
    assert rgb.shape == (SIZE, SIZE, 3)
    # A predicted pixel with a 4-neighbour outside the prediction is on its border: red.
    padded = np.pad(pred[k], 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    border = pred[k] & ~inner
    assert border.any()
    assert (rgb[border] == (255, 0, 0)).all()
    # Truth border pixels not on the prediction's border are green.
    padded = np.pad(truth[k], 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    green = truth[k] & ~inner & ~border
    assert green.any() and (rgb[green] == (0, 255, 0)).all()
    # Everywhere else the image is grey.
    rest = ~(border | green)
    assert (rgb[rest][:, 0] == rgb[rest][:, 1]).all()


def test_one_gif_per_volume_with_its_slices_in_order(report):
    out, _, data = report
    gifs = sorted((out / "gifs").glob("*.gif"))
    assert [g.stem for g in gifs] == data.volumes
    with Image.open(gifs[1]) as gif:
        assert gif.size == (SIZE, SIZE) and gif.n_frames == SYNTHETIC["slices_per_volume"]
        gif.seek(2)
        frame = np.asarray(gif.convert("RGB"), np.int16)
    overlay = np.asarray(Image.open(out / "overlays" / f"{data.volumes[1]}_3.png"), np.int16)
    assert np.abs(frame - overlay).mean() < 3  # the third slice (GIF palettes are lossy)


def test_dsc_plot_is_written(report):
    out = report[0]
    with Image.open(out / "dsc.png") as png:
        assert png.format == "PNG" and png.size[0] >= 400
        rgb = np.asarray(png.convert("RGB")).reshape(-1, 3)
    assert ((rgb == (255, 0, 0)).all(1)).sum() > 50     # the mean line
    assert ((rgb == (0, 128, 0)).all(1)).sum() > 20     # the median line


def test_whole_image_prediction_pads_to_the_stride_and_crops_back(pixel_model_path):
    from keras_seg.predict import load_predictor

    predictor = load_predictor(str(pixel_model_path))
    assert predictor.stride == STRIDE and predictor.channels == 3
    images = np.random.default_rng(1).standard_normal((3, 21, 50, 3)).astype(np.float32)
    probs = predict_images(predictor, images, batch_size=2)
    assert probs.shape == (3, 21, 50, 1)
    np.testing.assert_allclose(probs[..., 0], 1 / (1 + np.exp(-pixel_logits(images))),
                               atol=1e-5)


def test_unlabelled_data_gives_masks_and_no_dsc(pixel_model_path, tmp_path):
    rng = np.random.default_rng(2)
    for volume in ("a", "b"):
        (tmp_path / "set" / "images" / volume).mkdir(parents=True)
        for k in (1, 2):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                tmp_path / "set" / "images" / volume / f"{k}.png")
    summary = predict(str(pixel_model_path), data="folder", data_dir=str(tmp_path / "set"),
                      output=str(tmp_path / "out"), verbose=0)
    assert summary["mean_dsc"] is None and summary["slices"] == 4
    assert not (tmp_path / "out" / "per_volume_dsc.csv").exists()
    assert not (tmp_path / "out" / "dsc.png").exists()
    data = data_lib.load("folder", str(tmp_path / "set"), None)
    pred = expected_masks(data.images)
    for k, name in enumerate(data.names):
        np.testing.assert_array_equal(
            np.asarray(Image.open(tmp_path / "out" / "masks" / f"{name}.png")) == 255, pred[k])
    assert len(list((tmp_path / "out" / "gifs").glob("*.gif"))) == 2


def test_the_saved_model_gives_the_same_report(report, pixel_model_path, tmp_path):
    from keras_seg.export import export

    export(str(pixel_model_path), str(tmp_path / "saved_model"))
    predict(str(tmp_path / "saved_model"), data="synthetic", output=str(tmp_path / "out"),
            image_size=SIZE, options=SYNTHETIC, verbose=0)
    assert ((tmp_path / "out" / "per_volume_dsc.csv").read_text()
            == (report[0] / "per_volume_dsc.csv").read_text())


def test_inputs_default_to_the_training_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {
        "name": "isbi", "dir": "/data/isbi", "image_size": 256, "options": {"foreground": 1}}}))
    for model in (run / "best.keras", run / "saved_model", run):
        assert resolve_inputs(str(model)) == {"name": "isbi", "dir": "/data/isbi",
                                              "image_size": 256, "options": {"foreground": 1},
                                              "seed": 0}
    assert resolve_inputs(str(run), image_size="native", options={"split": "test"}) == {
        "name": "isbi", "dir": "/data/isbi", "image_size": None,
        "options": {"foreground": 1, "split": "test"}, "seed": 0}
    assert resolve_inputs(str(run), data="folder", data_dir="x", image_size=64) == {
        "name": "folder", "dir": "x", "image_size": 64, "options": {}, "seed": 0}


def test_a_folder_layout_is_predicted_at_its_native_size(pixel_model_path, tmp_path):
    """images/<volume>/<k>.png with masks/<volume>/<k>.png, 20x28: padded to 24x32 and back."""
    rng = np.random.default_rng(5)
    for volume in ("p1", "p2"):
        for k in (1, 2, 10):  # 10 sorts after 2: numeric slice order
            for folder in ("images", "masks"):
                (tmp_path / "set" / folder / volume).mkdir(parents=True, exist_ok=True)
            rgb = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(tmp_path / "set" / "images" / volume / f"{k}.png")
            mask = (rng.random((20, 28)) < 0.3).astype(np.uint8) * 255
            Image.fromarray(mask).save(tmp_path / "set" / "masks" / volume / f"{k}.png")
    summary = predict(str(pixel_model_path), data="folder", data_dir=str(tmp_path / "set"),
                      output=str(tmp_path / "out"), image_size="native", verbose=0)
    data = data_lib.load("folder", str(tmp_path / "set"), None)
    assert data.images.shape[1:] == (20, 28, 3) and summary["slices"] == 6
    pred, truth = expected_masks(data.images), data.masks[..., 0] > 0
    with open(tmp_path / "out" / "per_volume_dsc.csv") as f:
        rows = {r["volume"]: float(r["dsc"]) for r in csv.DictReader(f)}
    assert rows == pytest.approx({v: dice(pred[data.volume_ids == v],
                                          truth[data.volume_ids == v]) for v in data.volumes})
    with Image.open(tmp_path / "out" / "gifs" / "p2.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (28, 20)


def test_grey_images_are_repeated_for_a_colour_model_and_colour_is_refused_by_a_grey_one(
        pixel_model_path, tmp_path):
    import keras

    (tmp_path / "set" / "images").mkdir(parents=True)
    grey = np.random.default_rng(4).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "set" / "images" / "a.png")
    predict(str(pixel_model_path), data="folder", data_dir=str(tmp_path / "set"),
            output=str(tmp_path / "out"), verbose=0)
    one = data_lib.load("folder", str(tmp_path / "set"), None).images
    expected = expected_masks(np.repeat(one, 3, axis=-1))[0]
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "out" / "masks" / "a.png")) == 255, expected)

    inputs = keras.Input((None, None, 1))
    keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs)).save(
        tmp_path / "grey.keras")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "set" / "images" / "a.png")
    with pytest.raises(UserError, match="a.png has 3 channels; the model takes 1"):
        predict(str(tmp_path / "grey.keras"), data="folder", data_dir=str(tmp_path / "set"),
                output=str(tmp_path / "out2"), verbose=0)
