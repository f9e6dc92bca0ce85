"""`predict`: per-volume DSC against an independent computation, and the report's images."""

import csv
import json

import numpy as np
import pytest
import yaml
from cli_pixel_model import STRIDE, pixel_logits
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


# --- native geometry, splits, ensembles, post-processing, field metrics -------------------------

def lesion_reader_model(path, level):
    """A 3-channel model whose foreground is channel 0 above ``level``: sigmoid(50 (x0 - l))."""
    import keras

    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid", name="pixel")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.array([50.0, 0, 0], np.float32).reshape(1, 1, 3, 1),
                      np.array([-50.0 * level], np.float32)])
    model.save(path)
    return path


def write_lgg_patient(root, patient="TCGA_AA_0001_20000101", slices=2, shape=(40, 48)):
    """An LGG patient folder whose images carry the lesion in channel 0 and a brain disk in
    channel 1, off-centre, so that crop_to_brain crops, pads to a square and resizes."""
    import tifffile

    folder = root / patient
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    brain = (yy - 22) ** 2 / 12 ** 2 + (xx - 18) ** 2 / 9 ** 2 <= 1
    lesions = []
    for k in range(1, slices + 1):
        lesion = (yy - 20 - k) ** 2 + (xx - 17) ** 2 <= 6 ** 2
        image = np.stack([lesion * 250, brain * 200, brain * 60], -1).astype(np.uint8)
        tifffile.imwrite(folder / f"{patient}_{k}.tif", image)
        tifffile.imwrite(folder / f"{patient}_{k}_mask.tif", (lesion * 255).astype(np.uint8))
        lesions.append(lesion)
    return lesions


def test_masks_and_scores_are_in_the_files_grid_after_crop_pad_and_resize(tmp_path):
    lesions = write_lgg_patient(tmp_path / "lgg")
    delivered = data_lib.load("lgg", str(tmp_path / "lgg"), 32, crop_to_brain=True)
    assert delivered.images.shape[1:3] == (32, 32)             # the model sees 32x32 crops
    assert delivered.geometry[0].crop[2:] != (40, 48)          # of the brain's box
    channel = delivered.images[..., 0]
    model = lesion_reader_model(tmp_path / "lesion.keras", (channel.min() + channel.max()) / 2)
    summary = predict(str(model), data="lgg", data_dir=str(tmp_path / "lgg"), image_size=32,
                      options={"crop_to_brain": True}, output=str(tmp_path / "out"), verbose=0)
    found = []
    for k, lesion in enumerate(lesions, start=1):
        png = np.asarray(Image.open(tmp_path / "out" / "masks"
                                    / f"TCGA_AA_0001_20000101_{k}.png"))
        assert png.shape == (40, 48)                           # the file's grid
        found.append(png == 255)
        assert dice(found[-1], lesion) > 0.9                   # the lesion, back in place
        overlay = Image.open(tmp_path / "out" / "overlays" / f"TCGA_AA_0001_20000101_{k}.png")
        assert overlay.size == (48, 40)
    with open(tmp_path / "out" / "per_volume_metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["dsc"]) == pytest.approx(dice(np.stack(found), np.stack(lesions)))
    assert summary["mean_dsc"] == pytest.approx(float(row["dsc"]))


def test_a_folder_of_mixed_sizes_is_predicted_in_each_images_grid(pixel_model_path, tmp_path):
    rng = np.random.default_rng(8)
    sizes = {"small": (20, 28), "tall": (44, 18)}
    for name, shape in sizes.items():
        for folder in ("images", "masks"):
            (tmp_path / "set" / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(
            tmp_path / "set" / "images" / f"{name}.png")
        Image.fromarray((rng.random(shape) < 0.3).astype(np.uint8) * 255).save(
            tmp_path / "set" / "masks" / f"{name}.png")
    for size in ("native", 16):
        out = tmp_path / f"out{size}"
        summary = predict(str(pixel_model_path), data="folder", data_dir=str(tmp_path / "set"),
                          image_size=size, output=str(out), verbose=0)
        assert summary["volumes"] == 2
        for name, shape in sizes.items():
            assert np.asarray(Image.open(out / "masks" / f"{name}.png")).shape == shape


def synthetic_run(tmp_path, name="run", val=("synthetic_001",), weights=None):
    """A run directory: the pixel model (optionally other weights) and a config.yaml that
    trained on 3 synthetic volumes of 16 pixels, validating on ``val``."""
    import keras
    from cli_pixel_model import pixel_model

    run = tmp_path / name
    run.mkdir()
    model = pixel_model()
    if weights is not None:
        model.get_layer("logit").set_weights([np.asarray(weights[0], np.float32).reshape(
            1, 1, 3, 1), np.array([weights[1]], np.float32)])
    model.save(run / "best.keras")
    (run / "config.yaml").write_text(yaml.safe_dump({
        "data": {"name": "synthetic", "dir": None, "image_size": 16,
                 "options": {"num_volumes": 3, "slices_per_volume": 3},
                 "val_volume_ids": list(val)},
        "training": {"seed": 0}}))
    assert keras.models.load_model(run / "best.keras") is not None
    return run


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_reports_say_which_volumes_the_run_trained_and_validated_on(tmp_path):
    run = synthetic_run(tmp_path)
    summary = predict(str(run), output=str(tmp_path / "all"), verbose=0)
    rows = read_rows(tmp_path / "all" / "per_volume_metrics.csv")
    assert list(rows[0]) == ["volume", "split", "dsc", "iou", "precision", "recall", "hd95",
                             "assd", "nsd", "slices"]
    assert [(r["volume"], r["split"]) for r in rows] == [
        ("synthetic_000", "train"), ("synthetic_001", "val"), ("synthetic_002", "train")]
    report = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert set(report) == {"all", "train", "val"} and summary["splits"] == report
    assert report["val"]["count"] == 1 and report["train"]["count"] == 2
    assert report["val"]["mean"]["dsc"] == pytest.approx(float(rows[1]["dsc"]))
    assert report["train"]["median"]["iou"] == pytest.approx(
        np.mean([float(rows[0]["iou"]), float(rows[2]["iou"])]))
    # per_volume_dsc.csv keeps its columns and values
    assert read_rows(tmp_path / "all" / "per_volume_dsc.csv") == [
        {"volume": r["volume"], "dsc": r["dsc"], "slices": r["slices"]} for r in rows]

    predict(str(run), output=str(tmp_path / "val"), split="val", verbose=0)
    assert [r["volume"] for r in read_rows(tmp_path / "val" / "per_volume_metrics.csv")] == [
        "synthetic_001"]
    assert sorted(p.name for p in (tmp_path / "val" / "masks").iterdir()) == [
        f"synthetic_001_{k}.png" for k in (1, 2, 3)]
    # other options read other volumes: unseen
    predict(str(run), output=str(tmp_path / "other"), options={"num_volumes": 2}, verbose=0)
    assert {r["split"] for r in read_rows(tmp_path / "other" / "per_volume_metrics.csv")} == {
        "unseen"}
    with pytest.raises(UserError, match="no unseen volumes"):
        predict(str(run), output=str(tmp_path / "none"), split="unseen", verbose=0)


def test_an_ensemble_thresholds_the_mean_probability(tmp_path):
    from cli_pixel_model import BIAS, WEIGHTS

    a = synthetic_run(tmp_path, "a")
    b = synthetic_run(tmp_path, "b", weights=([1.0, -0.5, 0.3], -0.2))
    predict([str(a), str(b)], output=str(tmp_path / "out"), verbose=0)
    data = data_lib.load("synthetic", None, 16, num_volumes=3, slices_per_volume=3)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    mean = (sigmoid(data.images @ WEIGHTS + BIAS)
            + sigmoid(data.images @ np.array([1.0, -0.5, 0.3]) - 0.2)) / 2
    for k in (0, 4, 8):
        png = np.asarray(Image.open(tmp_path / "out" / "masks" / f"{data.names[k]}.png"))
        np.testing.assert_array_equal(png == 255, mean[k] > 0.5)


def test_post_processing_is_chosen_on_validation_and_applied_by_predict(tmp_path):
    from keras_seg.inference.postprocess import Postprocess, volume_dsc
    from keras_seg.predict import choose_postprocessing

    run = synthetic_run(tmp_path, val=("synthetic_001", "synthetic_002"))
    data = data_lib.load("synthetic", None, 16, num_volumes=3, slices_per_volume=3)
    raw = {v: expected_masks(data.images[data.volume_ids == v]) for v in data.volumes}
    truth = {v: data.masks[data.volume_ids == v][..., 0] > 0 for v in data.volumes}
    record = choose_postprocessing(str(run), min_voxels=[5, 40], verbose=0)
    val = ["synthetic_001", "synthetic_002"]
    assert record["volumes"] == val
    assert record["baseline_dsc"] == pytest.approx(np.mean([dice(raw[v], truth[v])
                                                            for v in val]))
    steps = [Postprocess("keep_largest"), Postprocess("remove_small", 5),
             Postprocess("remove_small", 40)]
    scores = [np.mean([volume_dsc(s.apply(raw[v]), truth[v]) for v in val]) for s in steps]
    assert [c["dsc"] for c in record["candidates"]] == pytest.approx(scores)
    best = int(np.argmax(scores))
    chosen = steps[best] if scores[best] > record["baseline_dsc"] else None
    saved = json.loads((run / "postprocess.json").read_text())["chosen"]
    assert saved == (None if chosen is None else {"name": chosen.name,
                                                  "min_voxels": chosen.min_voxels})

    # predict applies the recorded step (here forced to keep_largest), and not with "none"
    (run / "postprocess.json").write_text(json.dumps(
        {"chosen": {"name": "keep_largest", "min_voxels": None}}))
    summary = predict(str(run), output=str(tmp_path / "auto"), verbose=0)
    assert summary["postprocess"] == "keep_largest"
    off = predict(str(run), output=str(tmp_path / "off"), postprocess="none", verbose=0)
    assert off["postprocess"] is None
    for v in data.volumes:
        kept = Postprocess("keep_largest").apply(raw[v])
        for k in range(3):
            auto = np.asarray(Image.open(tmp_path / "auto" / "masks" / f"{v}_{k + 1}.png"))
            plain = np.asarray(Image.open(tmp_path / "off" / "masks" / f"{v}_{k + 1}.png"))
            np.testing.assert_array_equal(auto == 255, kept[k])
            np.testing.assert_array_equal(plain == 255, raw[v][k])


def test_the_command_line_takes_every_inference_option(tmp_path, capsys):
    from keras_seg import cli

    a, b = synthetic_run(tmp_path, "a"), synthetic_run(tmp_path, "b")
    status = cli.main(["predict", "--model", str(a), str(b), "--tta", "flip", "--window",
                       "sliding", "--tile", "8", "--overlap", "0.25", "--split", "train",
                       "--postprocess", "none", "--spacing", "0.5", "--nsd-tolerance", "2",
                       "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == 0 and "\r" not in out
    assert "2 volumes, 6 slices" in out and "train    2 volumes: DSC mean" in out
    assert "predicting: 2/2 volumes" in out          # plain progress lines in a log
    # the pixel model is pointwise: TTA, tiles and the ensemble of equals change nothing
    predict(str(a), output=str(tmp_path / "plain"), split="train", verbose=0)
    assert read_rows(tmp_path / "out" / "per_volume_dsc.csv") == read_rows(
        tmp_path / "plain" / "per_volume_dsc.csv")
    rows = read_rows(tmp_path / "out" / "per_volume_metrics.csv")
    plain = read_rows(tmp_path / "plain" / "per_volume_metrics.csv")
    for r, p in zip(rows, plain, strict=True):   # hd95 in mm with 0.5 mm pixels
        assert float(r["hd95"]) == pytest.approx(0.5 * float(p["hd95"]))
    assert cli.main(["postprocess", "--run", str(a), "--min-voxels", "3"]) == 0
    assert "chosen: " in capsys.readouterr().out and (a / "postprocess.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--spacing", "1", "2"], "--spacing takes one number or three"),
    (["--overlap", "1.5"], "must be in [0, 1)"),
    (["--split", "test"], "invalid choice: 'test'"),
    (["--tta", "rot90"], "invalid choice: 'rot90'"),
])
def test_bad_inference_options_are_one_line_errors(argv, message, tmp_path, capsys):
    from keras_seg import cli

    try:
        status = cli.main(["predict", "--model", str(tmp_path / "m.keras"), "--output",
                           str(tmp_path / "o"), *argv])
    except SystemExit as e:   # argparse refuses before running
        status = e.code
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error: ") and "\n" not in err and message in err


def test_bfloat16_prediction_is_within_0_005_dsc_of_float32(pixel_model_path, tmp_path):
    runs = {precision: predict(str(pixel_model_path), data="synthetic", image_size=SIZE,
                               options=SYNTHETIC, output=str(tmp_path / precision),
                               precision=precision, verbose=0)
            for precision in ("float32", "bfloat16")}
    assert runs["float32"]["precision"] == "float32"
    assert runs["bfloat16"]["precision"] == "bfloat16"
    assert runs["bfloat16"]["mean_dsc"] == pytest.approx(runs["float32"]["mean_dsc"], abs=0.005)
    with pytest.raises(UserError, match="unknown precision 'half'"):
        predict(str(pixel_model_path), data="synthetic", output=str(tmp_path / "x"),
                precision="half", verbose=0)
