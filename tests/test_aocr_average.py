"""`aocr average`: one model from the mean weights of a run's last checkpoints (aocr/average.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import aocr_cli

tf = pytest.importorskip("tensorflow")

from ovconvert.aocr import average, trained  # noqa: E402


def _weights(checkpoint: str) -> dict:
    """A checkpoint's model weights, read from the file (not through a model)."""
    reader = tf.train.load_checkpoint(checkpoint)
    prefix, suffix = "weights/", "/.ATTRIBUTES/VARIABLE_VALUE"
    return {key[len(prefix):-len(suffix)]: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key.startswith(prefix) and key.endswith(suffix)}


def test_the_averaged_model_holds_the_mean_of_the_last_checkpoints(tiny_aocr, tmp_path, capsys):
    _, model_dir = tiny_aocr
    kept = average.checkpoints_of(str(model_dir))
    assert len(kept) >= 2
    assert aocr_cli("aocr", "average", tmp_path / "averaged", "--model-dir", model_dir, "--last", "2",
                    "--log-path", "") == 0
    last, before = _weights(kept[-1]), _weights(kept[-2])
    averaged = _weights(capsys.readouterr().out.strip())
    assert averaged.keys() == last.keys()
    moved = [name for name in last if not np.array_equal(last[name], before[name])]
    assert len(moved) > len(last) // 2  # training changed most weights, so the mean differs from each
    for name in last:
        np.testing.assert_allclose(averaged[name], (last[name] + before[name]) / 2, rtol=1e-6, atol=1e-7)
    model = trained.load(str(tmp_path / "averaged"))
    assert model.step == trained.load(str(model_dir)).step  # the newest checkpoint's step
    assert not (tmp_path / "averaged.partial").exists()


def test_averaging_one_checkpoint_is_that_checkpoint(tiny_aocr, tmp_path, capsys):
    _, model_dir = tiny_aocr
    assert aocr_cli("aocr", "average", tmp_path / "one", "--model-dir", model_dir, "--last", "1",
                    "--log-path", "") == 0
    newest, written = _weights(average.checkpoints_of(str(model_dir))[-1]), _weights(capsys.readouterr().out.strip())
    for name, value in newest.items():
        np.testing.assert_array_equal(written[name], value)


def test_bad_requests_are_refused_and_write_nothing(tiny_aocr, tmp_path, capsys):
    _, model_dir = tiny_aocr
    kept = len(average.checkpoints_of(str(model_dir)))
    assert aocr_cli("aocr", "average", tmp_path / "a", "--model-dir", model_dir, "--last", str(kept + 1),
                    "--log-path", "") == 2
    assert f"keeps only {kept} checkpoints" in capsys.readouterr().err
    copy = tmp_path / "run"
    shutil.copytree(model_dir, copy)
    assert aocr_cli("aocr", "average", copy / "avg", "--model-dir", copy, "--log-path", "", "--last", "1") == 2
    assert "outside" in capsys.readouterr().err
    (tmp_path / "notes").mkdir()
    assert aocr_cli("aocr", "average", tmp_path / "notes", "--model-dir", model_dir, "--log-path", "",
                    "--last", "1") == 2
    assert "not a model directory" in capsys.readouterr().err
    assert aocr_cli("aocr", "average", tmp_path / "b", "--model-dir", tmp_path / "notes", "--log-path", "") == 2
    assert "no checkpoints to average" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "run"]
