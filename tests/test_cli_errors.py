"""Bad input through `train.py`: exit status 2, one line naming the culprit, nothing trained."""

import numpy as np
import pytest
from PIL import Image

from keras_seg import cli


def _pair(root, stem, image_size=(32, 32), mask_size=(32, 32), mask_values=(0, 255)):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(image_size, 90, np.uint8)).save(root / "images" / f"{stem}.png")
    mask = np.zeros(mask_size, np.uint8)
    mask[: mask_size[0] // 2] = mask_values[1]
    mask[0, 0] = mask_values[0]
    Image.fromarray(mask).save(root / "masks" / f"{stem}.png")


def _missing_mask(root):
    _pair(root, "a")
    (root / "masks" / "a.png").unlink()
    return "images/a.png"


def _mismatch(root):
    _pair(root, "a", mask_size=(32, 30))
    return "masks/a.png"


def _grey_mask(root):
    _pair(root, "a", mask_values=(0, 128))
    return "masks/a.png"


def _truncated(root):
    _pair(root, "a")
    path = root / "images" / "a.png"
    path.write_bytes(path.read_bytes()[:40])
    return "images/a.png"


@pytest.mark.parametrize("damage", [_missing_mask, _mismatch, _grey_mask, _truncated])
def test_bad_folder_data(tmp_path, capsys, damage):
    data_dir = tmp_path / "data"
    for stem in ("b", "c", "d"):
        _pair(data_dir, stem)
    culprit = damage(data_dir)
    run = tmp_path / "run"
    status = cli.main(["train", "--data", "folder", "--data-dir", str(data_dir), "--image-size",
                       "32", "--val-volumes", "1", "--epochs", "1", "--output", str(run)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error: ") and "\n" not in err
    assert str(data_dir / culprit) in err
    assert not run.exists()  # nothing is written for bad input


@pytest.mark.parametrize("argv, expected", [
    (["--model", "unet3d"], ["unknown model 'unet3d'", "unet_plus_plus"]),
    (["--data", "folder", "--data-dir", "/no/such/dir"], ["/no/such/dir"]),
])
def test_bad_names_and_paths(tmp_path, capsys, argv, expected):
    status = cli.main(["train", *argv, "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error: ") and "\n" not in err
    for part in expected:
        assert part in err


@pytest.mark.parametrize("model, weights, expected", [
    ("unet_plus_plus", [1, 1], "training.loss_weights has 2 weight(s) but the model has 4"),
    ("unet", [1, 1], "model has 1 output(s); it applies to deep supervision"),
])
def test_loss_weights_must_match_the_model_outputs(tmp_path, capsys, model, weights, expected):
    config = tmp_path / "c.yaml"
    config.write_text(f"model:\n  name: {model}\n  filters: 4\n"
                      + ("  deep_supervision: true\n" if model == "unet_plus_plus" else "")
                      + f"training:\n  loss_weights: {weights}\n")
    run = tmp_path / "run"
    status = cli.main(["train", "--config", str(config), "--output", str(run)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error: ") and expected in err and "\n" not in err
    assert not run.exists()


def test_malformed_yaml(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  name: unet\n filters: [3\n")
    status = cli.main(["train", "--config", str(config), "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "malformed YAML" in err and str(config) in err and "\n" not in err
