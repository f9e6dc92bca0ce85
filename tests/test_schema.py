"""The config schema: every key has a default, a range, a flag; --set reaches every key; the
README's config table is the generated one."""

import math
import pathlib

import pytest

from keras_seg import cli, config, schema
from keras_seg.errors import UserError

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- config-table: begin -->\n", "<!-- config-table: end -->"

# A valid value other than the default for every key (checked to differ below).
OTHER = {
    "model.name": "attention_unet", "loss.name": "dice", "data.name": "lgg", "data.dir": "d",
    "data.image_size": 64, "data.val_volumes": 3, "data.split_seed": 7, "data.augment": False,
    "data.options": {"crop_to_brain": True}, "data.val_volume_ids": ["a", "b"],
    "data.folds": 4, "data.fold": 2, "data.positive_fraction": 0.25, "training.epochs": 3,
    "training.batch_size": 2, "training.lr": 0.5, "training.optimizer": "sgd",
    "training.schedule": "cosine", "training.seed": 9, "training.mixed_precision": True,
    "training.jit": True, "training.distribute": "mirrored", "training.backend": "jax",
    "training.unfreeze_epoch": 2, "data.cache": "disk", "data.cache_dir": "c",
    "training.find_lr": True, "training.find_lr_then_train": True,
    "training.find_lr_rule": "steepest",
    "training.choose_postprocessing": False, "training.resume": True,
    "training.loss_weights": [1.0, 2.0], "output": "out",
}


def _parse(*argv) -> dict:
    return cli.overrides_from_args(cli._train_parser().parse_args(list(argv)))


def _get(tree: dict, key: str):
    for part in key.split("."):
        tree = tree[part]
    return tree


def test_every_key_has_a_default_a_range_and_a_test_value():
    assert set(OTHER) == set(schema.BY_KEY)
    defaults = config.DEFAULTS
    for key, setting in schema.BY_KEY.items():
        assert _get(defaults, key) == setting.default
        assert setting.kind.describe and setting.help
        assert setting.kind.check(key, OTHER[key]) == OTHER[key] != setting.default


@pytest.mark.parametrize("key", sorted(schema.BY_KEY))
def test_every_key_has_a_flag_and_set_reaches_it(key):
    setting = schema.BY_KEY[key]
    value = OTHER[key]
    if key == "data.options":
        via_flag = _parse("--data-option", "crop_to_brain=true")
    elif setting.kind.describe in ("true or false", "true, false or auto"):
        via_flag = _parse(setting.option if value else "--no-" + setting.option[2:])
    else:
        text = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
        text = text.lower() if isinstance(value, bool) else text
        via_flag = _parse(setting.option, text)
    assert _get(via_flag, key) == value
    set_text = "{crop_to_brain: true}" if key == "data.options" else (
        "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value))
    set_text = set_text.lower() if isinstance(value, bool) else set_text
    assert _get(_parse("--set", f"{key}={set_text}"), key) == value


def test_mixed_precision_is_auto_true_or_false(tmp_path):
    assert schema.BY_KEY["training.mixed_precision"].default == "auto"
    for value in ("auto", True, False):  # a run's config.yaml gives back what it was given
        resolved = config.resolve(None, {"training": {"mixed_precision": value}})
        config.save(resolved, str(tmp_path / "config.yaml"))
        again = config.resolve(str(tmp_path / "config.yaml"), {})
        assert again["training"]["mixed_precision"] == value
    assert _get(_parse("--no-mixed-precision"), "training.mixed_precision") is False
    assert _get(_parse("--set", "training.mixed_precision=auto"),
                "training.mixed_precision") == "auto"
    assert config.resolve(None, {})["training"]["mixed_precision"] == "auto"
    with pytest.raises(UserError, match="training.mixed_precision.*true, false or auto"):
        config.resolve(None, _parse("--set", "training.mixed_precision=fast"))


def test_set_reaches_model_and_loss_options_and_refuses_unknown_keys():
    resolved = config.resolve(None, _parse("--set", "model.filters=8", "--set", "loss.smooth=2"))
    assert resolved["model"]["filters"] == 8 and resolved["loss"]["smooth"] == 2
    with pytest.raises(UserError, match="unknown config key 'training.epoch'"):
        _parse("--set", "training.epoch=3")


def test_set_reaches_one_entry_of_the_augmentation_and_reader_mappings():
    root = pathlib.Path(__file__).resolve().parents[1]
    overrides = _parse("--set", "data.augment.rotation=0", "--set", "data.augment.noise=0.1",
                       "--set", "data.options.crop_to_brain=false")
    assert overrides["data"]["augment"] == {"rotation": 0, "noise": 0.1}
    resolved = config.resolve(str(root / "configs" / "lgg.yaml"), overrides)
    # the file's other entries stay: flip, scale, brightness, contrast of configs/lgg.yaml
    assert resolved["data"]["augment"] == {"flip": True, "rotation": 0, "scale": 0.05,
                                           "brightness": 0.1, "contrast": 0.1, "noise": 0.1}
    assert resolved["data"]["options"] == {"crop_to_brain": False}
    with pytest.raises(UserError, match="data.augment.rotation must be a number >= 0"):
        config.resolve(None, _parse("--set", "data.augment.rotation=-5"))
    with pytest.raises(UserError, match="unknown augmentation 'rotate'"):
        config.resolve(None, _parse("--set", "data.augment.rotate=5"))


@pytest.mark.parametrize("argv, message", [
    (("--lr", "inf"), r"--lr: training.lr must be a number in \(0, 10\], got inf"),
    (("--lr", "nan"), "training.lr must be a number"),
    (("--lr", "0"), "training.lr must be a number"),
    (("--epochs", "0"), r"training.epochs must be an integer in \[1, 100000\], got 0"),
    (("--epochs", "2.5"), "training.epochs must be an integer"),
    (("--seed", "-1"), r"training.seed must be an integer in \[0, 2147483647\], got -1"),
    (("--image-size", "100000"), r"data.image_size must be an integer in \[8, 8192\]"),
    (("--val-volumes", "1.5"), "data.val_volumes must be a count"),
    (("--positive-fraction", "2"), r"data.positive_fraction must be a number in \[0, 1\]"),
    (("--batch-size", "x"), "training.batch_size must be an integer"),
    (("--set", "training.lr=-inf"), "--set training.lr must be a number"),
])
def test_out_of_range_values_are_refused_where_they_enter(argv, message):
    with pytest.raises(UserError, match=message):
        _parse(*argv)


def test_config_file_values_are_range_checked_with_the_file_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  lr: .nan\n")
    with pytest.raises(UserError, match=f"{path}: training.lr must be a number"):
        config.resolve(str(path))
    path.write_text("data:\n  folds: 3\n  fold: 3\n")
    with pytest.raises(UserError, match=r"data.fold must be in \[0, 2\]"):
        config.resolve(str(path))


def test_a_long_bad_value_is_quoted_as_a_short_prefix(tmp_path):
    bomb = "data:\n  options:\n    a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"    {c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    path = tmp_path / "bomb.yaml"  # 9**9 leaves if expanded
    path.write_text(bomb + "training:\n  epochs: *i\n")
    with pytest.raises(UserError) as e:
        config.resolve(str(path))
    assert "training.epochs" in str(e.value) and len(str(e.value)) < 300


def test_a_non_utf8_config_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("training:\n  epochs: 3 # é\n".encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text"):
        config.resolve(str(path))


def test_data_set_defaults_suit_the_data_set():
    synthetic, folder = config.resolve(None), config.resolve(None, {"data": {"name": "folder"}})
    assert (synthetic["model"]["filters"], synthetic["data"]["image_size"],
            synthetic["data"]["val_volumes"]) == (16, 128, 4)
    assert (folder["model"]["filters"], folder["data"]["image_size"],
            folder["data"]["val_volumes"]) == (32, 256, 0.2)
    assert math.isclose(folder["training"]["lr"], synthetic["training"]["lr"])


def test_readme_config_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table == schema.markdown_table(), (
        "regenerate with: python -c 'from keras_seg import schema; "
        "print(schema.markdown_table(), end=\"\")'")


def test_encoder_flag_sets_the_model_encoder_and_refuses_unknown_names():
    assert _parse("--encoder", "resnet50")["model"]["encoder"] == "resnet50"
    with pytest.raises(UserError, match="unknown encoder 'resnet51'.*resnet50"):
        _parse("--encoder", "resnet51")
