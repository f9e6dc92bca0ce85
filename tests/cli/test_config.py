"""Config resolution: defaults < file < flags, and validation errors that list valid choices."""

import pathlib

import pytest
import yaml

from keras_seg import cli, config
from keras_seg.errors import UserError

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def write(tmp_path, content) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(content) if isinstance(content, dict) else content)
    return str(path)


def flags(*argv) -> dict:
    """The overrides the train command line gives."""
    return cli.overrides_from_args(cli._train_parser().parse_args(list(argv)))


def test_synthetic_yaml_equals_the_defaults():
    content = config.load_yaml(str(CONFIGS / "synthetic.yaml"))
    resolved = config.resolve(None)
    assert config.merge(resolved, content) == resolved
    assert config.resolve(str(CONFIGS / "synthetic.yaml")) == resolved


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    resolved = config.resolve(str(path))
    assert resolved["data"]["name"] in path.stem or path.stem == "synthetic"


def test_lgg_reference_config_is_the_reference_protocol():
    c = config.resolve(str(CONFIGS / "lgg_reference.yaml"))
    assert c["model"] == {"name": "unet", "filters": 32, "depth": 4}
    assert c["loss"]["name"] == "dice" and c["loss"]["batch"] is True
    assert c["data"]["name"] == "lgg" and c["data"]["image_size"] == 256
    assert (c["data"]["val_volumes"], c["data"]["split_seed"]) == (10, 42)
    assert c["data"]["augment"] == {"flip": True, "rotation": 15, "scale": 0.05,
                                    "brightness": 0, "contrast": 0}
    assert c["data"]["options"] == {"crop_to_brain": True}
    t = c["training"]
    assert (t["optimizer"], t["lr"], t["batch_size"], t["epochs"], t["schedule"]) == (
        "adam", 1e-4, 16, 100, "constant")


def test_lgg_config_is_our_recipe_on_the_reference_model_and_split():
    ours, ref = (config.resolve(str(CONFIGS / n)) for n in ("lgg.yaml", "lgg_reference.yaml"))
    assert ours == config.resolve(str(CONFIGS / "lgg_best.yaml"))
    assert ours["model"] == ref["model"] and ours["training"]["epochs"] == 100
    assert {k: ours["data"][k] for k in ("name", "image_size", "val_volumes", "split_seed")} == \
        {k: ref["data"][k] for k in ("name", "image_size", "val_volumes", "split_seed")}
    assert ours["loss"] == {"name": "bce_dice", "batch": True}
    assert (ours["training"]["lr"], ours["training"]["schedule"]) == (1e-3, "cosine")
    assert ours["data"]["positive_fraction"] == 0.5 and ref["data"]["positive_fraction"] is None


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path):
    path = write(tmp_path, {"training": {"epochs": 5, "lr": 0.01},
                            "data": {"options": {"num_volumes": 6}}})
    c = config.resolve(path, flags("--epochs", "7", "--no-jit", "--data-option",
                                   "slices_per_volume=3", "--output", "out"))
    assert c["training"]["epochs"] == 7          # flag over file
    assert c["training"]["lr"] == 0.01           # file over default
    assert c["training"]["batch_size"] == 16     # default
    assert c["training"]["jit"] is False
    assert c["data"]["options"] == {"num_volumes": 6, "slices_per_volume": 3}
    assert c["output"] == "out"


def test_every_flag_reaches_its_config_key():
    got = flags("--model", "attention_unet", "--loss", "dice", "--data", "lgg", "--data-dir", "d",
                "--image-size", "64", "--epochs", "3", "--batch-size", "2", "--lr", "0.5",
                "--optimizer", "sgd", "--schedule", "cosine", "--seed", "9",
                "--val-volumes", "0.25", "--find-lr", "--resume", "--mixed-precision",
                "--jit", "--distribute", "mirrored")
    assert got == {
        "model": {"name": "attention_unet"}, "loss": {"name": "dice"},
        "data": {"name": "lgg", "dir": "d", "image_size": 64, "val_volumes": 0.25},
        "training": {"epochs": 3, "batch_size": 2, "lr": 0.5, "optimizer": "sgd",
                     "schedule": "cosine", "seed": 9, "find_lr": True, "resume": True,
                     "mixed_precision": True, "jit": True, "distribute": "mirrored"}}
    assert flags() == {}


def test_a_named_model_in_a_file_takes_the_builder_defaults(tmp_path):
    c = config.resolve(write(tmp_path, {"model": {"name": "unet"}, "loss": {"name": "bce"}}))
    assert c["model"] == {"name": "unet"} and c["loss"] == {"name": "bce"}


def test_another_name_on_the_command_line_keeps_only_accepted_options(tmp_path):
    path = write(tmp_path, {"model": {"name": "unet", "filters": 8, "depth": 3},
                            "loss": {"name": "bce_dice", "batch": True, "bce_weight": 0.3},
                            "data": {"options": {"num_volumes": 6}}})
    c = config.resolve(path, flags("--model", "unet_plus_plus", "--loss", "focal"))
    assert c["model"] == {"name": "unet_plus_plus", "filters": 8, "depth": 3}
    assert c["loss"] == {"name": "focal"}
    c = config.resolve(path, flags("--model", "res_unet", "--data", "lgg"))
    assert c["model"] == {"name": "res_unet"} and c["data"]["options"] == {}


def test_numbers_yaml_reads_as_strings_are_accepted(tmp_path):
    c = config.resolve(write(tmp_path, "training:\n  lr: 1e-4\n  epochs: 3.0\n"))
    assert c["training"]["lr"] == pytest.approx(1e-4) and c["training"]["epochs"] == 3


def test_sampling_and_output_weights_are_read_as_numbers(tmp_path):
    c = config.resolve(write(tmp_path, "data:\n  positive_fraction: 1\ntraining:\n"
                                       "  loss_weights: [1, 2, '4e-1']\n"))
    assert c["data"]["positive_fraction"] == 1.0
    assert c["training"]["loss_weights"] == [1.0, 2.0, 0.4]
    assert config.resolve()["data"]["positive_fraction"] is None
    assert config.resolve()["training"]["loss_weights"] is None


@pytest.mark.parametrize("content, expected", [
    ({"trainig": {}}, ["unknown config section 'trainig'", "model, loss, data, training"]),
    ({"training": {"epoch": 3}}, ["unknown config key 'training.epoch'", "training.epochs"]),
    ({"training": 3}, ["section 'training' must be a mapping"]),
    ({"model": {"name": "vnet"}}, ["unknown model 'vnet'", "unet, attention_unet, res_unet"]),
    ({"loss": {"name": "dise"}}, ["unknown loss 'dise'", "bce, dice, log_dice"]),
    ({"data": {"name": "kaggle"}}, ["unknown data set 'kaggle'", "synthetic, lgg, isbi, drive"]),
    ({"model": {"name": "unet", "filterz": 8}},
     ["model.filterz", "model 'unet'", "valid options: filters, depth"]),
    ({"loss": {"name": "dice", "gamma": 2}}, ["loss.gamma", "valid options: ", "from_logits"]),
    ({"training": {"epochs": "ten"}},
     ["training.epochs must be an integer in [1, 100000]", "'ten'"]),
    ({"training": {"epochs": True}}, ["training.epochs must be an integer"]),
    ({"training": {"lr": -1}}, ["training.lr must be a number in (0, 10], got -1"]),
    ({"training": {"jit": "yes"}}, ["training.jit must be true or false"]),
    ({"training": {"optimizer": "lamb"}},
     ["unknown optimizer 'lamb' (training.optimizer)", "adam, adamw"]),
    ({"training": {"schedule": "step"}}, ["'step'", "constant, cosine, plateau"]),
    ({"training": {"distribute": "tpu"}}, ["'tpu'", "none, mirrored, multi_worker"]),
    ({"data": {"val_volumes": 1.5}}, ["data.val_volumes must be a count"]),
    ({"data": {"image_size": 0}}, ["data.image_size must be an integer in [8, 8192], got 0"]),
    ({"data": {"augment": "yes"}}, ["data.augment must be true, false or a mapping"]),
    ({"data": {"augment": {"flip": 0.5}}}, ["data.augment.flip must be true or false"]),
    ({"data": {"augment": {"shear": 3}}}, ["unknown augmentation 'shear'", "rotation"]),
    ({"data": {"options": [1]}}, ["data.options must be a mapping"]),
    ({"data": {"positive_fraction": 1.5}}, ["data.positive_fraction must be a number in [0, 1]"]),
    ({"data": {"positive_fraction": True}}, ["data.positive_fraction must be a number"]),
    ({"training": {"loss_weights": 0.5}}, ["training.loss_weights must be a list of numbers"]),
    ({"training": {"loss_weights": [1, -1]}}, ["training.loss_weights must be a list", "[1, -1]"]),
    ({"training": {"loss_weights": [0, 0]}}, ["training.loss_weights must be a list"]),
    ({"training": {"loss_weights": []}}, ["training.loss_weights must be a list"]),
])
def test_bad_config_files_are_refused_naming_the_file_and_key(tmp_path, content, expected):
    path = write(tmp_path, content)
    with pytest.raises(UserError) as info:
        config.resolve(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for part in expected:
        assert part in message


def test_bad_flags_are_refused():
    with pytest.raises(UserError, match="unknown model 'vnet'"):
        config.resolve(None, flags("--model", "vnet"))
    with pytest.raises(UserError, match="data.val_volumes"):
        config.resolve(None, flags("--val-volumes", "0"))


@pytest.mark.parametrize("content, expected", [
    ("training: [1, 2\n", "malformed YAML"),
    ("- a\n- b\n", "must be a mapping of sections"),
])
def test_unreadable_config_files(tmp_path, content, expected):
    with pytest.raises(UserError, match=expected):
        config.resolve(write(tmp_path, content))
    with pytest.raises(UserError, match="cannot read config"):
        config.resolve(str(tmp_path / "missing.yaml"))


def test_the_saved_config_resolves_to_itself(tmp_path):
    c = config.resolve(str(CONFIGS / "drive.yaml"), {"output": "run"})
    c["data"]["val_volume_ids"] = ["01", "02"]
    config.save(c, str(tmp_path / "config.yaml"))
    assert config.resolve(str(tmp_path / "config.yaml")) == c
