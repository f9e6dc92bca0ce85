"""Errors a user can cause: one line `error: ...` on stderr, exit status 2, no traceback."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import yaml

from keras_seg import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_cli(*argv, cwd=ROOT):
    """Run a command line in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def assert_one_line_error(proc, *expected):
    """Exit status 2, and the last stderr line is the only `error:` line and names the culprit.

    (TensorFlow's native start-up messages may precede it on stderr.)
    """
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    for part in expected:
        assert part in lines[-1]


def test_missing_model_file(tmp_path):
    missing = tmp_path / "nope" / "best.keras"
    proc = run_cli("-m", "keras_seg", "predict", "--model", str(missing), "--data", "synthetic",
                   "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, "model not found", str(missing))


def test_bad_value_in_a_config_file(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"training": {"epochs": "ten"}}))
    proc = run_cli("train.py", "--config", str(config))
    assert_one_line_error(proc, str(config), "training.epochs", "'ten'")


def test_image_size_not_divisible_by_the_stride(tmp_path):
    proc = run_cli("train.py", "--image-size", "40", "--epochs", "1", "--model", "unet",
                   "--output", str(tmp_path / "run"))
    assert_one_line_error(proc, "40", "not divisible by 16")


@pytest.mark.parametrize("argv, expected", [
    (["train", "--loss", "dise"], ["unknown loss 'dise'", "bce_logdice"]),
    (["train", "--data", "kaggle"], ["unknown data set 'kaggle'", "lgg"]),
    (["train", "--optimizer", "lamb"], ["'lamb'", "adamw"]),
    (["predict", "--model", "m.keras"], ["required: --output"]),
    (["predict", "--model", "m", "--output", "o", "--image-size", "big"], ["'native'"]),
    (["export", "--model", "m.keras", "--output", "o", "--format", "tflite"], ["tflite"]),
    (["train", "--epochs", "ten"], ["--epochs", "'ten'"]),
])
def test_bad_command_lines(argv, expected, capsys):
    try:
        status = cli.main(argv)
    except SystemExit as e:  # argparse
        status = e.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    for part in expected:
        assert part in err


def test_predict_needs_a_data_set(pixel_model_path, tmp_path, capsys):
    status = cli.main(["predict", "--model", str(pixel_model_path), "--output",
                       str(tmp_path / "o")])
    assert status == 2 and "--data is required" in capsys.readouterr().err


def test_predict_command_line_reports_the_dsc(pixel_model_path, tmp_path, capsys):
    status = cli.main(["predict", "--model", str(pixel_model_path), "--data", "synthetic",
                       "--image-size", "16", "--data-option", "num_volumes=2",
                       "--data-option", "slices_per_volume=2", "--threshold", "0.9",
                       "--output", str(tmp_path)])
    assert status == 0
    assert "2 volumes, 4 slices" in capsys.readouterr().out
    masks = sorted((tmp_path / "masks").glob("*.png"))
    assert len(masks) == 4


def test_export_to_onnx_without_a_converter(pixel_model_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    status = cli.main(["export", "--model", str(pixel_model_path), "--format", "onnx",
                       "--output", str(tmp_path)])
    assert status == 2 and "tf2onnx" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    from keras_seg.errors import UserError

    with pytest.raises(UserError):
        cli.main(["predict", "--model", str(tmp_path / "m.keras"), "--data", "synthetic",
                  "--output", str(tmp_path), "--debug"])


def test_threshold_changes_the_masks(pixel_model_path, tmp_path):
    from PIL import Image

    for threshold in ("0.3", "0.7"):
        cli.main(["predict", "--model", str(pixel_model_path), "--data", "synthetic",
                  "--image-size", "16", "--data-option", "num_volumes=2", "--threshold",
                  threshold, "--output", str(tmp_path / threshold)])
    low = np.asarray(Image.open(next((tmp_path / "0.3" / "masks").glob("*.png"))))
    high = np.asarray(Image.open(next((tmp_path / "0.7" / "masks").glob("*.png"))))
    assert (high <= low).all() and (high < low).any()
