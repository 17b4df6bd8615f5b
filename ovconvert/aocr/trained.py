"""A trained model read back from its --model-dir: the saved configuration (checked against any model
flags given) and the latest checkpoint's weights. Used by test, predict and export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ovconvert.aocr import config as config_io
from ovconvert.aocr.config import ModelConfig
from ovconvert.errors import UserError


@dataclass
class Trained:
    config: ModelConfig
    model: object  # None when loaded without its weights
    checkpoint: str
    step: int


def load(model_dir: str, requested: dict | None = None, weights: bool = True) -> Trained:
    """The model in `model_dir`. Without `weights`, its settings, checkpoint and step only: the OpenVINO
    engine reads with the IR converted from these files and needs no network in TensorFlow (building
    and restoring it is about 2–4 s, most of a short `aocr predict`); the conversion loads them in full."""
    import tensorflow as tf

    from ovconvert.aocr import model as model_lib

    saved = config_io.load(model_dir)
    if saved is None:
        bundled = Path(__file__).resolve().parent / "pretrained"
        raise UserError(f"{model_dir}: no {config_io.CONFIG_FILE} (not a model directory); train first with "
                        f"`ovconvert aocr train`, or pass --model-dir (the bundled model: --model-dir {bundled})")
    config = config_io.resolve(saved, requested or {}, model_dir)
    latest = tf.train.latest_checkpoint(model_dir)
    if latest is None:
        raise UserError(f"{model_dir}: no checkpoint; train first with `ovconvert aocr train`")
    if not weights:
        step = tf.train.load_checkpoint(latest).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")
        return Trained(config, None, latest, int(step))
    model = model_lib.build(config)
    step = tf.Variable(0, dtype=tf.int64, name="global_step")
    # Restores the model's weights (and the step) and ignores the optimizer's slots.
    try:
        status = tf.train.Checkpoint(weights=model_lib.checkpoint_weights(model), step=step).restore(latest)
        status.expect_partial()  # the optimizer's slots are left out on purpose
        status.assert_existing_objects_matched()
    # a weight missing from the checkpoint (AssertionError), or one of another shape (ValueError, at once)
    except (AssertionError, ValueError) as error:
        raise UserError(f"{latest}: the checkpoint does not match the model in {config_io.CONFIG_FILE} "
                        f"({str(error).splitlines()[0][:200]}); was config.json replaced?") from None
    return Trained(config, model, latest, int(step.numpy()))


def save_weights_only(trained: Trained, out_dir: str) -> str:
    """A model directory without optimizer state (a third of the size): config.json and one checkpoint."""
    import tensorflow as tf

    config_io.save(trained.config, out_dir)
    step = tf.Variable(trained.step, dtype=tf.int64, name="global_step")
    from ovconvert.aocr import model as model_lib

    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(weights=model_lib.checkpoint_weights(trained.model), step=step), out_dir, max_to_keep=1)
    return manager.save(checkpoint_number=trained.step)
