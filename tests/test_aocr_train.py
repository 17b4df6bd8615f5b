"""Training: configuration saved and enforced, resume, interruption (SIGTERM, SIGKILL), two workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, TINY_MODEL_FLAGS, aocr_cli


def _latest_step(model_dir: Path) -> int:
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(model_dir))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def test_configuration_is_saved_and_read_back(tiny_aocr):
    _, model_dir = tiny_aocr
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["max_prediction"] == 4 and saved["attn_num_hidden"] == 16 and saved["cnn_scale"] == 0.125
    assert saved["charset"] == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert _latest_step(model_dir) == 4


def test_flags_that_contradict_the_checkpoint_are_an_error(tiny_aocr, tmp_path, capsys):
    records, model_dir = tiny_aocr
    code = aocr_cli("aocr", "export", tmp_path / "e", "--model-dir", model_dir, "--max-prediction", "8",
                    "--log-path", "")
    err = capsys.readouterr().err
    assert code == 2 and "--max-prediction 8 (trained with 4)" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e").exists()
    # Flags that agree with the checkpoint are fine, and absent ones are filled from it.
    assert aocr_cli("aocr", "test", records, "--model-dir", model_dir, "--max-prediction", "4", "--max-images", "8",
                    "--log-path", "") == 0


def test_training_resumes_from_the_latest_checkpoint(tiny_aocr, tmp_path, capsys):
    import shutil

    records, trained_dir = tiny_aocr
    model_dir = tmp_path / "model"
    shutil.copytree(trained_dir, model_dir)
    assert aocr_cli("aocr", "train", records, "--model-dir", model_dir, "--num-steps", "6", "--optimizer", "adam",
                    "--log-path", "", "--batch-size", "8", "--dropout", "0.1") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps_this_run"] == 2 and summary["step"] == 6 and _latest_step(model_dir) == 6
    # Dropout is a training setting: it may change on resume, and the config records the new rate.
    assert json.loads((model_dir / "config.json").read_text())["dropout"] == 0.1
    assert aocr_cli("aocr", "train", records, "--model-dir", model_dir, "--num-steps", "7", "--optimizer", "adam",
                    "--log-path", "", "--batch-size", "8", "--dropout", "1.5") == 2
    assert "--dropout must be in [0, 1), got 1.5" in capsys.readouterr().err


def _train_in_subprocess(records, model_dir, extra=()):
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "ovconvert", "aocr", "train", str(records), "--model-dir", str(model_dir),
               "--optimizer", "adam", "--log-path", "", "--steps-per-checkpoint", "3", *TINY_MODEL_FLAGS, *extra]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_step(process, step: int, timeout: float = 240) -> str:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(f"step {step} "):
            return "".join(seen)
    process.kill()
    raise AssertionError("training never reached step %d:\n%s" % (step, "".join(seen[-20:])))


@pytest.mark.parametrize("how", [pytest.param("SIGTERM", marks=pytest.mark.slow), "SIGKILL"])  # SIGKILL is the harder case
def test_interrupted_training_loses_at_most_one_checkpoint_interval(tiny_aocr, tmp_path, how):
    records, _ = tiny_aocr
    model_dir = tmp_path / "model"
    process = _train_in_subprocess(records, model_dir, ("--num-steps", "1000"))
    _wait_for_step(process, 6)
    os.kill(process.pid, getattr(signal, how))
    output = process.communicate(timeout=120)[0]
    reached = _latest_step(model_dir)
    if how == "SIGTERM":
        assert process.returncode == 130 and "SIGTERM: checkpoint saved at step" in output
        assert reached >= 6
    else:
        assert process.returncode == -signal.SIGKILL
        assert reached >= 6 - 3  # at most one --steps-per-checkpoint interval lost
    resumed = _train_in_subprocess(records, model_dir, ("--num-steps", str(reached + 1)))
    output = resumed.communicate(timeout=240)[0]
    assert resumed.returncode == 0, output
    assert f"step {reached + 1} " in output and _latest_step(model_dir) == reached + 1


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # two TensorFlow processes on 2 cores
def test_two_workers_on_loopback_train_one_model(tiny_aocr, tmp_path):
    """MultiWorkerMirroredStrategy from TF_CONFIG: after a few synchronous steps both workers hold the
    same weights (one model), and only the chief writes the model directory."""
    import tensorflow as tf

    records, _ = tiny_aocr
    model_dir = tmp_path / "model"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        command = [sys.executable, "-m", "ovconvert", "aocr", "train", str(records), "--model-dir", str(model_dir),
                   "--optimizer", "adam", "--log-path", "", "--num-steps", "3", "--steps-per-checkpoint", "3",
                   *TINY_MODEL_FLAGS]
        processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert "MultiWorkerMirroredStrategy" in outputs[0]
    chief = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    other = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir / "worker-worker-1")))
    names = [n for n, _ in tf.train.list_variables(tf.train.latest_checkpoint(str(model_dir)))
             if n.startswith("weights/")]
    assert len(names) > 30  # every layer: CNN, encoder, decoder
    for name in names:
        np.testing.assert_array_equal(chief.get_tensor(name), other.get_tensor(name), err_msg=name)
    assert int(chief.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 3


def test_resuming_with_another_optimizer_is_refused(tiny_aocr, capsys):
    records, model_dir = tiny_aocr
    code = aocr_cli("aocr", "train", records, "--model-dir", model_dir, "--optimizer", "adadelta", "--num-steps", "5",
                    "--log-path", "")
    err = capsys.readouterr().err
    assert code == 2 and "trained with --optimizer adam; resume with --optimizer adam" in err


def test_all_io_goes_through_gfile_so_remote_paths_work(tiny_aocr, capsys):
    """TensorFlow's in-memory ram:// filesystem stands in for gs://: data, --job-dir (the Cloud ML
    Engine alias of --model-dir), checkpoints, config and both exports all live there."""
    import tensorflow as tf

    records, _ = tiny_aocr
    tf.io.gfile.makedirs("ram://bucket/data")
    tf.io.gfile.copy(str(records), "ram://bucket/data/words.tfrecords", overwrite=True)
    assert aocr_cli("aocr", "train", "ram://bucket/data/*.tfrecords", "--job-dir", "ram://bucket/model",
                    "--num-steps", "1", "--optimizer", "adam", "--log-path", "", *TINY_MODEL_FLAGS) == 0
    assert {"config.json", "checkpoint"} <= set(tf.io.gfile.listdir("ram://bucket/model"))
    assert aocr_cli("aocr", "export", "ram://bucket/exported", "--job-dir", "ram://bucket/model",
                    "--log-path", "") == 0
    assert aocr_cli("aocr", "export", "ram://bucket/frozen", "--format", "frozengraph",
                    "--model-dir", "ram://bucket/model", "--log-path", "") == 0
    assert tf.io.gfile.exists("ram://bucket/exported/1/saved_model.pb")
    assert tf.io.gfile.exists("ram://bucket/frozen/frozen_graph.pb")
    capsys.readouterr()
    assert aocr_cli("aocr", "test", "ram://bucket/data/words.tfrecords", "--model-dir", "ram://bucket/model",
                    "--max-images", "8", "--log-path", "") == 0
    assert json.loads(capsys.readouterr().out)["images"] == 8


def test_a_second_run_in_a_model_directory_being_trained_is_refused(tiny_aocr, tmp_path, capsys):
    """Two runs in one directory would save checkpoints under the same step numbers over each other's
    and resume from each other's; the second is refused in one line, and the first run's files are
    left as they were."""
    import shutil

    from ovconvert.aocr.train import ModelDirLock

    records, trained_dir = tiny_aocr
    model_dir = tmp_path / "model"
    shutil.copytree(trained_dir, model_dir)
    before = {path.name: path.stat().st_mtime_ns for path in model_dir.iterdir() if path.name != ".train.lock"}
    with ModelDirLock(str(model_dir)):  # as the first run holds it (flock: per open file, so also in-process)
        code = aocr_cli("aocr", "train", records, "--model-dir", model_dir, "--num-steps", "6", "--optimizer",
                        "adam", "--log-path", "", "--batch-size", "8")
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"another `aocr train` (pid {os.getpid()}) is training in this model directory" in err
        assert {path.name: path.stat().st_mtime_ns for path in model_dir.iterdir() if path.name != ".train.lock"} == before
    # once the first run has ended (or died: the kernel drops its lock), training goes on there
    assert aocr_cli("aocr", "train", records, "--model-dir", model_dir, "--num-steps", "5", "--optimizer", "adam",
                    "--log-path", "", "--batch-size", "8") == 0
    assert _latest_step(model_dir) == 5


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed exception
def test_a_sigterm_whose_exception_python_swallowed_still_stops_training(tiny_aocr, tmp_path, monkeypatch, capsys):
    """Python drops an exception raised while a __del__ method runs, and TensorFlow's objects run many:
    a SIGTERM that landed in one while `aocr train` scanned its records once let it go on to train
    (and to write into a model directory a new run had taken). Here the signal arrives inside a __del__
    during the scan; the run stops after it, exit code 143, without a checkpoint."""
    from ovconvert.aocr import records

    dataset_path, _ = tiny_aocr
    model_dir = tmp_path / "model"
    real_scan = records.scan_cached

    class SignalledWhileCollected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, in __del__: its exception is lost

    def scan_interrupted(*args, **kwargs):
        SignalledWhileCollected()  # collected at once
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(records, "scan_cached", scan_interrupted)
    code = aocr_cli("aocr", "train", dataset_path, "--model-dir", model_dir, "--num-steps", "4", "--optimizer", "adam",
                    "--log-path", "", *TINY_MODEL_FLAGS)
    err = capsys.readouterr().err
    assert code == 143 and "terminated (SIGTERM)" in err, err
    assert _latest_step(model_dir) == 0
