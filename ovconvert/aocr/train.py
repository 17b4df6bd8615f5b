"""`ovconvert aocr train`: the training loop.

tf.distribute does all multi-device work: MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster,
MirroredStrategy when several GPUs are visible, the default strategy otherwise. Checkpoints are written
every --steps-per-checkpoint steps and on SIGINT/SIGTERM, and training resumes from the latest one by
default, so a killed run (even SIGKILL) loses at most one checkpoint interval. One run at a time writes
to a model directory (ModelDirLock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import sys
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ovconvert.aocr import config as config_io
from ovconvert.aocr import data, records
from ovconvert.aocr.charset import PAD
from ovconvert.errors import SIGTERM_RECEIVED, UserError, stop_if_terminated

log = logging.getLogger("ovconvert.aocr")


@dataclass(frozen=True)
class TrainOptions:
    dataset: tuple[str, ...]
    model_dir: str
    batch_size: int = 65
    num_epoch: int = 1000
    num_steps: int | None = None
    steps_per_checkpoint: int = 100
    initial_learning_rate: float | None = None  # None: the optimizer's default
    optimizer: str = "adadelta"
    max_gradient_norm: float = 5.0
    clip_gradients: bool = True
    resume: bool = True
    keep_checkpoints: int = 3
    # A model directory whose weights start a new model (fine-tuning, or a bigger --max-prediction /
    # --max-width: no weight depends on them); used only when there is no checkpoint to resume.
    init_from: str | None = None
    # (low, high): squeeze or stretch half the training images across by a random factor (data.dataset).
    width_jitter: tuple[float, float] | None = None
    # The CNN features' dropout rate. A training setting, not a weight, so unlike the model flags it may
    # change when resuming; None keeps the saved one (aocr's 0.5 for a new model).
    dropout: float | None = None


def choose_strategy() -> tf.distribute.Strategy:
    if os.environ.get("TF_CONFIG"):
        cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        log.info("TF_CONFIG names %d workers: MultiWorkerMirroredStrategy", sum(len(v) for v in cluster.values()))
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        log.info("%d GPUs: MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def checkpoint_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Workers other than the chief must also write (tf.distribute's collective save) but into a
    directory of their own, which nobody reads back."""
    if is_chief(strategy):
        return model_dir
    resolver = strategy.cluster_resolver
    return f"{model_dir.rstrip('/')}/worker-{resolver.task_type}-{resolver.task_id}"


def make_optimizer(options: TrainOptions):
    import keras

    if options.optimizer == "adadelta":  # aocr's choice, with its learning rate 1.0
        return keras.optimizers.Adadelta(learning_rate=options.initial_learning_rate or 1.0, rho=0.95, epsilon=1e-6)
    if options.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=options.initial_learning_rate or 1e-3)
    raise UserError(f"--optimizer {options.optimizer}: expected adadelta or adam")


class StopRequest:
    """SIGINT/SIGTERM ask the loop to save a checkpoint and stop after the current step."""

    def __init__(self):
        self.requested = None
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        if SIGTERM_RECEIVED.is_set():  # before the loop began, and its exception was swallowed
            self.requested = "SIGTERM"
        return self

    def _handle(self, signum, frame):
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


class ModelDirLock:
    """An exclusive lock on a local model directory for as long as a run trains in it. Two runs in one
    directory (a second `make aocr-train`, or a run that seemed stopped) would each save checkpoints
    under the same step numbers over the other's and resume from the other's: one run's history, a
    mixture of two. The lock is the kernel's (flock), so a run that dies, even by SIGKILL, leaves none
    behind. Remote directories (gs://) are not locked."""

    NAME = ".train.lock"

    def __init__(self, model_dir: str):
        self.path = None if "://" in model_dir else os.path.join(model_dir, self.NAME)
        self.handle = None

    def __enter__(self):
        if self.path is None:
            return self
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "unknown"
            self.handle.close()
            raise UserError(f"{os.path.dirname(self.path)}: another `aocr train` (pid {holder}) is training in this "
                            "model directory; stop it first (kill -TERM saves its checkpoint) or give "
                            "another --model-dir") from None
        self.handle.truncate(0)
        self.handle.write(f"{os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.close()  # releases the lock; the file stays, empty of meaning without it
        return False


class Progress:
    """One status line: step, loss, perplexity, accuracy, steps/s; redrawn in place on a terminal."""

    def __init__(self, every: int):
        self.tty = sys.stderr.isatty()
        self.every = every
        self.last_time = time.monotonic()
        self.last_step = None

    def update(self, step: int, loss: float, token_accuracy: float, word_accuracy: float, force=False) -> str:
        now = time.monotonic()
        if self.last_step is None:
            self.last_step, self.last_time = step - 1, now
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        line = (f"step {step}  loss {loss:.4f}  perplexity {math.exp(min(loss, 50)):.3f}  "
                f"char accuracy {token_accuracy:.3f}  word accuracy {word_accuracy:.3f}  {rate:.2f} steps/s")
        if force or step % self.every == 0:
            if self.tty:
                print("\r\033[K", end="", file=sys.stderr)
            log.info(line)  # a lasting line on the console and in --log-path
            self.last_step, self.last_time = step, now
        elif self.tty:
            print("\r\033[K" + line, end="", file=sys.stderr, flush=True)
        return line


def make_step(model, optimizer, strategy, options: TrainOptions):
    """One synchronous training step over the global batch: (images, targets) → (loss, char accuracy,
    word accuracy), the accuracies taken under teacher forcing."""
    global_batch = options.batch_size

    def replica_step(images, targets):
        with tf.GradientTape() as tape:
            logits, _ = model(images, teacher_targets=targets, training=True)
            mask = tf.cast(tf.not_equal(targets, PAD), tf.float32)
            token_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
            per_example = tf.reduce_sum(token_loss * mask, axis=1) / tf.reduce_sum(mask, axis=1)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        variables = model.trainable_variables
        gradients = tape.gradient(loss, variables)
        if options.clip_gradients:
            gradients, _ = tf.clip_by_global_norm(gradients, options.max_gradient_norm)
        optimizer.apply_gradients(zip(gradients, variables))
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        hits = tf.cast(tf.equal(predictions, targets), tf.float32) * mask
        words = tf.reduce_all(tf.logical_or(tf.equal(predictions, targets), tf.equal(mask, 0.0)), axis=1)
        return loss, tf.reduce_sum(hits), tf.reduce_sum(mask), tf.reduce_sum(tf.cast(words, tf.float32))

    # reduce_retracing: with canvas widths the batches come at a few widths; one graph of any width
    # rather than a trace for each
    @tf.function(reduce_retracing=True)
    def distributed_step(images, targets):
        results = strategy.run(replica_step, args=(images, targets))
        loss, hits, tokens, words = (strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                                     for value in results)
        return loss, hits / tokens, words / global_batch

    return distributed_step


OPTIMIZER_FILE = "optimizer.json"


def _write_json(path: str, value: dict) -> None:
    with tf.io.gfile.GFile(path + ".tmp", "w") as handle:
        handle.write(json.dumps(value) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def _check_optimizer(options: TrainOptions) -> None:
    """Resuming with another optimizer would silently drop the saved one's state: refuse."""
    path = f"{options.model_dir.rstrip('/')}/{OPTIMIZER_FILE}"
    if not options.resume or not tf.io.gfile.exists(path):
        return
    with tf.io.gfile.GFile(path, "r") as handle:
        saved = json.loads(handle.read()).get("optimizer")
    if saved and saved != options.optimizer:
        raise UserError(f"{options.model_dir} was trained with --optimizer {saved}; resume with --optimizer {saved}, "
                        "or pass --no-resume to start a new model")


def copy_weights(source_dir: str, model) -> int:
    """Start `model` from the weights of the model in `source_dir` (same layer path and shape); the rest
    keep their fresh initial values. A source with a wider CNN (a larger --cnn-scale) gives its strongest
    filters (narrow.py); one with fewer --attn-num-hidden units is widened to read as it did (widen.py).
    Returns how many were copied."""
    from ovconvert.aocr import model as model_lib
    from ovconvert.aocr import narrow, trained, widen

    loaded = trained.load(source_dir)
    source = {name: np.asarray(value) for name, value in model_lib.checkpoint_weights(loaded.model).items()}
    target = model_lib.checkpoint_weights(model)
    if loaded.config.cnn_scale > model.config.cnn_scale:
        try:
            source = narrow.narrowed_weights(source, {name: tuple(variable.shape) for name, variable in target.items()})
        except ValueError as error:
            raise UserError(f"--init-from {source_dir}: cannot narrow its CNN to --cnn-scale "
                            f"{model.config.cnn_scale}: {error}") from None
        log.info("narrowing %s's CNN from --cnn-scale %g to %g: each convolution keeps its strongest filters",
                 source_dir, loaded.config.cnn_scale, model.config.cnn_scale)
    if loaded.config.attn_num_hidden < model.config.attn_num_hidden:
        try:
            source = widen.widened_weights(source, model.config.attn_num_hidden)
        except ValueError as error:
            raise UserError(f"--init-from {source_dir}: cannot widen it to --attn-num-hidden "
                            f"{model.config.attn_num_hidden}: {error}") from None
        log.info("widening %s's encoder, attention and decoder from %d to %d units; it reads as before",
                 source_dir, loaded.config.attn_num_hidden, model.config.attn_num_hidden)
    copied = [name for name, variable in target.items()
              if name in source and tuple(source[name].shape) == tuple(variable.shape)]
    if not copied:
        raise UserError(f"--init-from {source_dir}: none of its weights fits this model (another --cnn-scale, "
                        "--attn-num-hidden or charset?); train from scratch without --init-from")
    for name in copied:
        target[name].assign(source[name])
    log.info("started from %s: %d of %d weights copied%s", source_dir, len(copied), len(target),
             "" if len(copied) == len(target) else f" (not: {', '.join(sorted(set(target) - set(copied)))[:300]})")
    return len(copied)


def train(requested: dict, options: TrainOptions) -> dict:
    """Train (or resume) the model in options.model_dir. `requested` holds the model flags given
    explicitly; a saved configuration wins and conflicting flags are an error."""
    strategy = choose_strategy()
    paths = data.tfrecord_paths(list(options.dataset))
    _check_optimizer(options)
    with ModelDirLock(options.model_dir) if is_chief(strategy) else contextlib.nullcontext():
        return _train_locked(requested, options, strategy, paths)


def _train_locked(requested: dict, options: TrainOptions, strategy, paths: list[str]) -> dict:
    from ovconvert.aocr import model as model_lib

    saved = config_io.load(options.model_dir)
    if not options.resume and saved is not None:
        log.info("--no-resume: starting a new model in %s (its old checkpoints are replaced)", options.model_dir)
        saved = None
    config = config_io.resolve(saved, requested, options.model_dir)
    if options.dropout is not None and options.dropout != config.dropout:
        log.info("dropout %s (was %s)", options.dropout, config.dropout)
        config = dataclasses.replace(config, dropout=options.dropout)

    report = records.scan_cached(paths, config, options.model_dir)
    stop_if_terminated()  # a SIGTERM during the scan (minutes on a large set) stops here at the latest
    report.log(", ".join(paths))
    usable = report.total - report.skipped
    if usable == 0:
        raise UserError(f"{', '.join(paths)}: no usable records (see the warnings above); check the labels "
                        "against the charset and --max-prediction")

    save_dir = checkpoint_dir(options.model_dir, strategy)
    if is_chief(strategy):
        config_io.save(config, options.model_dir)
        _write_json(f"{options.model_dir.rstrip('/')}/{OPTIMIZER_FILE}", {"optimizer": options.optimizer})

    with strategy.scope():
        model = model_lib.build(config)
        optimizer = make_optimizer(options)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        # Optimizer slots in their (deterministic) creation order; see model.checkpoint_weights for why
        # variables are listed rather than the objects handed over.
        checkpoint = tf.train.Checkpoint(weights=model_lib.checkpoint_weights(model), step=step,
                                         optimizer_state={f"{i:04d}": v.value for i, v in enumerate(optimizer.variables)})
    manager = tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=options.keep_checkpoints)
    if options.resume and manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).expect_partial()
        log.info("resumed from %s (step %d)", manager.latest_checkpoint, int(step.numpy()))
        if options.initial_learning_rate is not None:  # given explicitly: it wins over the saved one
            optimizer.learning_rate.assign(options.initial_learning_rate)
    else:
        if not options.resume:
            for stale in tf.io.gfile.glob(f"{save_dir.rstrip('/')}/ckpt-*") + tf.io.gfile.glob(f"{save_dir}/checkpoint"):
                tf.io.gfile.remove(stale)
        if options.init_from:
            copy_weights(options.init_from, model)

    global_batch = options.batch_size
    batches = data.dataset(paths, config, report.usable, global_batch, shuffle=True, repeat=options.num_epoch,
                           drop_remainder=True, width_jitter=options.width_jitter, per_file=report.per_file,
                           random_canvases=bool(config.canvas_widths))
    policy = tf.data.Options()
    policy.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = strategy.experimental_distribute_dataset(batches.with_options(policy))

    distributed_step = make_step(model, optimizer, strategy, options)

    progress = Progress(options.steps_per_checkpoint)
    started = time.monotonic()
    first_step = int(step.numpy())
    images_seen = 0
    last = {}
    with StopRequest() as stop:
        for images, targets in batches:
            loss, token_accuracy, word_accuracy = distributed_step(images, targets)
            step.assign_add(1)
            images_seen += global_batch
            current = int(step.numpy())
            last = {"step": current, "loss": float(loss), "char_accuracy": float(token_accuracy),
                    "word_accuracy": float(word_accuracy)}
            progress.update(current, last["loss"], last["char_accuracy"], last["word_accuracy"])
            done = options.num_steps is not None and current >= options.num_steps
            if current % options.steps_per_checkpoint == 0 or done or stop.requested:
                manager.save(checkpoint_number=current)
            if stop.requested:
                log.info("\n%s: checkpoint saved at step %d; run the same command again to resume",
                         stop.requested, current)
                break
            if done:
                break
        else:
            manager.save(checkpoint_number=int(step.numpy()))
    elapsed = time.monotonic() - started
    trained_steps = int(step.numpy()) - first_step
    if last:
        progress.update(last["step"], last["loss"], last["char_accuracy"], last["word_accuracy"], force=True)
    summary = dict(last, steps_this_run=trained_steps, seconds=round(elapsed, 1),
                   images_per_second=round(images_seen / elapsed, 2) if elapsed else None,
                   checkpoint=manager.latest_checkpoint, interrupted=bool(stop.requested))
    log.info("trained %d steps in %.0f s (%.1f images/s); latest checkpoint %s", trained_steps, elapsed,
             summary["images_per_second"] or 0, manager.latest_checkpoint)
    return summary
