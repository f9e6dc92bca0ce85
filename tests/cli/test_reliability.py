"""A run directory never loses work, and every bad input is one clear line (subprocesses).

Each case runs ``train.py`` as a user would and checks the exit status, that stderr ends in a
single ``error:`` line without a traceback, and that the run directory is unchanged byte for
byte where the case promises it.
"""

import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = {"model": {"name": "unet", "filters": 4, "depth": 2},
        "data": {"image_size": 32, "options": {"num_volumes": 6, "slices_per_volume": 4},
                 "val_volumes": 2},
        "training": {"epochs": 2, "batch_size": 8}}


def train(*argv, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a refused run (TensorFlow's start-up lines aside)."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


def snapshot(run: pathlib.Path) -> dict:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def finished_run(tiny_config, tmp_path_factory) -> pathlib.Path:
    """A finished 2-epoch run, made once; tests work on copies."""
    run = tmp_path_factory.mktemp("finished") / "run"
    result = train("--config", tiny_config, "--output", run)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


@pytest.fixture
def run_copy(finished_run, tmp_path) -> pathlib.Path:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


@pytest.mark.slow
def test_a_new_run_never_replaces_a_finished_one(run_copy, tiny_config):
    before = snapshot(run_copy)
    result = train("--config", tiny_config, "--output", run_copy, "--epochs", "1")
    assert result.returncode == 2
    line = error_line(result)
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert snapshot(run_copy) == before


@pytest.mark.slow
def test_overwrite_replaces_the_run_and_keeps_other_files(run_copy, tiny_config):
    (run_copy / "notes.txt").write_text("mine")
    result = train("--config", tiny_config, "--output", run_copy, "--epochs", "1",
                   "--overwrite")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_copy / "summary.json").read_text())
    assert summary["epochs_run"] == 1
    assert (run_copy / "notes.txt").read_text() == "mine"
    assert not (run_copy / ".lock").exists()


@pytest.mark.slow
def test_resume_continues_to_more_epochs_and_keeps_the_best_scores(run_copy):
    before = json.loads((run_copy / "summary.json").read_text())
    result = train("--resume", "--output", run_copy, "--epochs", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_copy / "summary.json").read_text())
    assert summary["epochs_run"] == 3
    assert summary["val_dsc_per_volume"], "per-volume scores of the best epoch are kept"
    best = max(before["best_val_dsc"], summary["best_val_dsc"])
    assert summary["best_val_dsc"] == pytest.approx(best)
    assert sum(summary["val_dsc_per_volume"].values()) / len(
        summary["val_dsc_per_volume"]) == pytest.approx(summary["best_val_dsc"])
    # resuming the finished run again trains nothing and keeps the summary's scores
    again = train("--resume", "--output", run_copy)
    assert again.returncode == 0, again.stderr[-3000:]
    kept = json.loads((run_copy / "summary.json").read_text())
    assert kept["val_dsc_per_volume"] == summary["val_dsc_per_volume"]
    assert kept["epochs_run"] == 3


@pytest.mark.slow
def test_resume_refuses_flags_it_cannot_honour(run_copy):
    before = snapshot(run_copy)
    result = train("--resume", "--output", run_copy, "--epochs", "6", "--lr", "1e-4")
    assert result.returncode == 2
    assert "training.lr" in error_line(result)
    assert snapshot(run_copy) == before


def _damage_checkpoint(run):
    (run / "last.keras").write_bytes(b"PK\x03\x04 not a zip")
    return "last.keras"


def _damage_state(run):
    (run / "last_state.json").write_text('{"epochs_done": ')
    return "last_state.json"


def _wrong_channels(run):
    import keras

    from keras_seg.models import get_model

    model = get_model("unet", input_shape=(None, None, 1), filters=4, depth=2)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.save(run / "last.keras")
    keras.backend.clear_session()
    return "1-channel"


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_damage_checkpoint, _damage_state, _wrong_channels])
def test_resume_of_a_damaged_run_is_one_line_before_training(run_copy, damage):
    culprit = damage(run_copy)
    before = snapshot(run_copy)
    result = train("--resume", "--output", run_copy, "--epochs", "3")
    assert result.returncode == 2
    assert culprit in error_line(result)
    assert snapshot(run_copy) == before


@pytest.mark.slow
def test_a_second_process_on_the_same_output_is_refused(tiny_config, tmp_path):
    run = tmp_path / "run"
    config = yaml.safe_load(tiny_config.read_text())
    config["training"]["epochs"] = 30
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(config))
    first = subprocess.Popen([sys.executable, "train.py", "--config", str(slow), "--output",
                              str(run)], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while not (run / ".lock").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert (run / ".lock").exists(), "the first run never took its lock"
        second = train("--config", tiny_config, "--output", run)
        assert second.returncode == 2
        assert f"in use by process {first.pid}" in error_line(second)
    finally:
        first.kill()
        first.wait()
    # the first run was killed: its lock is stale and a resume takes it over
    assert (run / ".lock").exists()
    json.loads((run / ".lock").read_text())


@pytest.mark.slow
def test_ctrl_c_mid_epoch_is_one_line_and_the_run_resumes(tiny_config, tmp_path):
    run = tmp_path / "run"
    config = yaml.safe_load(tiny_config.read_text())
    config["training"]["epochs"] = 40
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(config))
    # As in a terminal: SIGINT at its default. A test run started in the background
    # (`pytest &`, nohup) has SIGINT ignored, children inherit that, and Python then never
    # raises KeyboardInterrupt, so the run would train on.
    proc = subprocess.Popen([sys.executable, "train.py", "--config", str(slow), "--output",
                             str(run)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state = run / "last_state.json"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not state.exists():
        time.sleep(0.1)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    line = error_line(subprocess.CompletedProcess([], 130, "", stderr))
    assert "--resume --output" in line and str(run) in line
    done = json.loads(state.read_text())["epochs_done"]
    assert done >= 1 and not (run / ".lock").exists()
    resumed = train("--resume", "--output", run, "--epochs", str(done + 1))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == done + 1


@pytest.mark.slow
def test_a_stale_lock_is_taken_over(tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (run / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    result = train("--config", tiny_config, "--output", run, "--epochs", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (run / ".lock").exists()


@pytest.mark.parametrize("argv, culprit", [
    (("--lr", "inf"), "--lr"),
    (("--threshold-typo",), "unrecognized arguments"),
    (("--seed", "-3"), "training.seed"),
    (("--image-size", "99999"), "data.image_size"),
    (("--set", "loss.smooth=x"), "smooth"),
    (("--set", "model.filters=abc"), "filters"),
])
def test_bad_values_are_one_line_and_leave_no_run_directory(tiny_config, tmp_path, argv,
                                                            culprit):
    run = tmp_path / "run"
    result = train("--config", tiny_config, "--output", run, *argv)
    assert result.returncode == 2
    assert culprit in error_line(result)
    assert not run.exists()


def test_an_output_that_is_a_file_is_one_line(tiny_config, tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    for output in (target, target / "run"):
        result = train("--config", tiny_config, "--output", output)
        assert result.returncode == 2
        assert str(target) in error_line(result)
    assert target.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_is_one_line(tiny_config, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = train("--config", tiny_config, "--output", parent / "run")
        assert result.returncode == 2
        assert str(parent) in error_line(result)
    finally:
        parent.chmod(0o755)


@pytest.mark.parametrize("threshold", ["nan", "inf", "0", "1", "-0.5", "x"])
def test_predict_refuses_a_threshold_outside_0_1(threshold, tmp_path, capsys):
    from keras_seg import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "--model", str(tmp_path / "m.keras"), "--output",
                  str(tmp_path / "out"), "--threshold", threshold])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --threshold") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_export_into_a_path_under_a_file_is_one_line(tmp_path, capsys):
    from keras_seg import cli
    from keras_seg.models import get_model

    get_model("unet", input_shape=(None, None, 3), filters=4, depth=2).save(tmp_path / "m.keras")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    status = cli.main(["export", "--model", str(tmp_path / "m.keras"), "--output",
                       str(blocker / "sm")])
    assert status == 2
    assert f"error: cannot write the export to {blocker / 'sm'}" in capsys.readouterr().err
    assert blocker.read_text() == "x"
