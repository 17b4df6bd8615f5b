"""One model from the mean of a training run's last checkpoints (`aocr average`): checkpoint averaging
(as in Vaswani et al. 2017, "Attention Is All You Need"; Izmailov et al. 2018, "Averaging Weights Leads to
Wider Optima and Better Generalization").

Late in training, at a small learning rate, the weights wander around a minimum from one checkpoint to the
next, and the held-out accuracy wanders with them by a point or so. Their mean sits nearer the middle of
that region than any one of them. It costs nothing at read time: the averaged model has the same shape.

The checkpoints must come from one run (one line of descent from a common start): the mean of two
unrelated networks is not a network, because their units need not correspond.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ovconvert.aocr import config as config_io
from ovconvert.aocr import trained as trained_lib
from ovconvert.errors import UserError


def checkpoints_of(model_dir: str) -> list[str]:
    """The checkpoints tf.train.CheckpointManager still keeps in `model_dir`, oldest first."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(model_dir)
    if state is None or not state.all_model_checkpoint_paths:
        raise UserError(f"{model_dir}: no checkpoints to average; train with `ovconvert aocr train` first")
    return list(state.all_model_checkpoint_paths)


def average(model_dir: str, last: int) -> trained_lib.Trained:
    """The model of `model_dir` with the mean weights of its `last` newest checkpoints (batch norm's moving
    statistics included: they are averaged like the weights they normalise); its step is the newest one's."""
    import numpy as np
    import tensorflow as tf

    from ovconvert.aocr import model as model_lib

    paths = checkpoints_of(model_dir)
    if last < 1:
        raise UserError(f"--last {last}: give at least 1")
    if last > len(paths):
        raise UserError(f"--last {last}: {model_dir} keeps only {len(paths)} checkpoints; give --last "
                        f"{len(paths)} or fewer, or train with --keep-checkpoints {last}")
    newest = trained_lib.load(model_dir)  # the configuration and a built model to restore into
    weights = model_lib.checkpoint_weights(newest.model)
    sums = {name: np.zeros(value.shape, np.float64) for name, value in weights.items()}
    step = tf.Variable(0, dtype=tf.int64, name="global_step")
    for path in paths[-last:]:
        tf.train.Checkpoint(weights=weights, step=step).restore(path).expect_partial()
        for name, value in weights.items():
            sums[name] += value.numpy()
    for name, value in weights.items():
        value.assign((sums[name] / last).astype(value.dtype.as_numpy_dtype))
    return trained_lib.Trained(newest.config, newest.model, paths[-1], newest.step)


def write(averaged: trained_lib.Trained, model_dir: str, output_dir: str) -> str:
    """Write the averaged model to `output_dir` (a new directory, or a model directory it replaces, as
    the bundled model is replaced in place) through a staging directory, so that a failure leaves no
    half-written model; returns its checkpoint's path."""
    output, source = Path(output_dir).resolve(), Path(model_dir).resolve()
    if output == source or source in output.parents:
        raise UserError(f"{output_dir}: write the averaged model outside {model_dir}, whose checkpoints a "
                        f"resumed run would mix with it")
    if output.exists() and not (output / config_io.CONFIG_FILE).exists():
        raise UserError(f"{output_dir} exists and is not a model directory; give a new directory")
    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)  # a stale one from an interrupted write
    checkpoint = trained_lib.save_weights_only(averaged, str(staging))
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
    return str(output / Path(checkpoint).name)
