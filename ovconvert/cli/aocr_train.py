"""`ovconvert aocr train`: the flags the user typed → train.TrainOptions and the model settings; the
training itself is aocr/train.py's. Exit code 130 when interrupted (after saving a checkpoint)."""

from __future__ import annotations

import json


def run_train(args) -> int:
    from ovconvert.aocr import config as config_io
    from ovconvert.aocr import train
    from ovconvert.aocr.charset import DEFAULT
    from ovconvert.cli.aocr import requested_config  # (the parser's module imports this one)

    requested = requested_config(args)
    if config_io.load(args.model_dir) is None or not args.resume:
        requested.setdefault("charset", DEFAULT)  # a new model: aocr's defaults for what was not given
    options = train.TrainOptions(
        dataset=tuple(args.dataset_path), model_dir=args.model_dir, batch_size=args.batch_size,
        num_epoch=args.num_epoch, num_steps=args.num_steps, steps_per_checkpoint=args.steps_per_checkpoint,
        keep_checkpoints=args.keep_checkpoints, initial_learning_rate=args.initial_learning_rate,
        optimizer=args.optimizer, max_gradient_norm=args.max_gradient_norm,
        clip_gradients=args.clip_gradients, resume=args.resume, init_from=_init_from(args.init_from),
        width_jitter=args.width_jitter, dropout=args.dropout)
    summary = train.train(requested, options)
    print(json.dumps(summary))
    return 130 if summary["interrupted"] else 0


def _init_from(value: str | None) -> str | None:
    if value == "pretrained":
        from ovconvert.families.aocr import PRETRAINED_DIR

        return str(PRETRAINED_DIR)
    return value
