"""`ovconvert aocr …`: aocr's command line (dataset, train, test, predict, export) with its flags and
defaults, plus `synth` for synthetic word images. See docs/aocr.md. The parser and the checks every
subcommand shares are here, with the small subcommands; train, test and predict have modules of their own.

Model flags are only taken as given: a flag the user did not type is absent (argparse.SUPPRESS), so a
trained model's saved configuration fills it, and a typed flag that contradicts it is an error.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ovconvert.aocr.config import REREAD_BELOW, SPELLING_WEIGHT
from ovconvert.cli.aocr_predict import run_predict
from ovconvert.cli.aocr_test import run_test
from ovconvert.cli.aocr_train import run_train

log = logging.getLogger("ovconvert.aocr")

# Model flags → ModelConfig fields; defaults are aocr's (ModelConfig's own defaults).
MODEL_FLAGS = ("max_width", "max_height", "max_prediction", "use_gru", "attn_num_layers", "attn_num_hidden",
               "target_embedding_size", "cnn_scale", "trim_margins", "canvas_widths")


def _model_flags(parser) -> None:
    group = parser.add_argument_group("model (saved with the checkpoint; given here only to train a new model)")
    suppress = argparse.SUPPRESS
    group.add_argument("--max-width", type=int, default=suppress, help="maximum image width (default 160)")
    group.add_argument("--max-height", type=int, default=suppress, help="maximum image height (default 60)")
    group.add_argument("--max-prediction", type=int, default=suppress,
                       help="maximum label length in characters (default 8)")
    group.add_argument("--full-ascii", action="store_true", default=suppress,
                       help="printable ASCII charset instead of 0-9A-Z")
    group.add_argument("--charset", metavar="FILE", default=suppress,
                       help="a UTF-8 file of the characters to read, in order (any script)")
    group.add_argument("--no-force-uppercase", dest="force_uppercase", action="store_false", default=suppress,
                       help="keep labels' case (default: upper-case them, as aocr does)")
    group.add_argument("--color", action="store_true", default=suppress, help="read colour images (default grey)")
    group.add_argument("--use-gru", action="store_true", default=suppress, help="GRU cells instead of LSTM")
    group.add_argument("--attn-num-layers", type=int, default=suppress, help="decoder layers (default 2)")
    group.add_argument("--attn-num-hidden", type=int, default=suppress, help="hidden units (default 128)")
    group.add_argument("--target-embedding-size", type=int, default=suppress,
                       help="character embedding size (default 10)")
    group.add_argument("--cnn-scale", type=float, default=suppress,
                       help="scale aocr's CNN filter counts (default 1.0; the bundled model uses 0.25)")
    group.add_argument("--no-trim-margins", dest="trim_margins", action="store_false", default=suppress,
                       help="fit images as they come, as aocr does (default: cut blank margins wider than the "
                            "text's height first; models saved before this option read without it)")
    group.add_argument("--canvas-widths", type=_widths, default=suppress, metavar="W,W,…",
                       help="read each word on the narrowest of these canvases that holds it (pixels, e.g. "
                            "128,192,256; wider words at the full width): faster on short words, a model trained "
                            "with them (default: every word at the full width, as aocr; docs/aocr.md)")


def _widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected pixel widths separated by commas, e.g. 128,192,256; got {text!r}") from None


def _engine_flags(parser) -> None:
    parser.add_argument("--engine", choices=("tensorflow", "openvino"), default="tensorflow",
                        help="tensorflow (default), or openvino: the IR recipes/aocr.yaml makes from the model "
                             "(converted once, validated, cached), batched; at f32 (see --precision) the same strings")
    parser.add_argument("--device", default="CPU", help="OpenVINO device for --engine openvino (default CPU)")
    parser.add_argument("--precision", choices=("f32", "bf16", "f16", "device", "int8"), default="f32",
                        help="--engine openvino's inference precision: f32 (default: TensorFlow's strings on every "
                             "CPU), or bf16/f16/device (the device's default) for speed where it runs them "
                             "natively, or int8 (the INT8 IR NNCF makes, behind its accuracy gate; made once and "
                             "cached), a few strings apart (docs/aocr.md)")
    parser.add_argument("--reread-below", type=_probability, default=REREAD_BELOW, metavar="P",
                        help=f"read a word again at 0.8x and 1.25x its width when its reading is less probable than "
                             f"P, and stretched when its characters are narrow, keeping the most probable reading "
                             f"(default {REREAD_BELOW}; 0 reads once, as aocr)")
    parser.add_argument("--spelling-weight", type=_weight, default=SPELLING_WEIGHT, metavar="W",
                        help=f"let English spelling choose among the letters the model is unsure of, weighed W "
                             f"against the model's own probabilities; words with a digit are read as the model "
                             f"reads them (default {SPELLING_WEIGHT}; 0 reads as the model reads, as aocr; "
                             f"docs/aocr.md)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the converted IR is cached (default: $OVCONVERT_CACHE or ~/.cache/ovconvert)")


def _run_flags(parser) -> None:
    parser.add_argument("--model-dir", "--job-dir", dest="model_dir", default="./checkpoints",
                        help="checkpoints and config.json; local or gs:// (default ./checkpoints; "
                             "`pretrained`: the bundled model, for test, predict and export; "
                             "--job-dir is an alias, for Cloud ML Engine / Vertex AI)")
    parser.add_argument("--log-path", default="aocr.log", help="also log to this file (default aocr.log; '' for none)")
    parser.add_argument("--gpu-id", type=int, default=None, help="use only this GPU")
    parser.add_argument("--batch-size", type=int, default=65, help="images per step (default 65)")


# aocr's global flags: its own parser takes them before the subcommand (`aocr --log-path x.log train …`,
# `aocr --model-dir m test …`); they are accepted there as well as after the subcommand. (flag, dest,
# the subcommand's default, argparse keywords)
GLOBAL_FLAGS = (
    ("--log-path", "log_path", "aocr.log", {}),
    ("--model-dir", "model_dir", "./checkpoints", {}),
    ("--job-dir", "model_dir", "./checkpoints", {}),
    ("--output-dir", "output_dir", "./results", {}),
    ("--gpu-id", "gpu_id", None, {"type": int}),
    ("--no-distance", "use_distance", True, {"action": "store_false"}),
    ("--initial-learning-rate", "initial_learning_rate", None, {"type": float}),
    ("--max-gradient-norm", "max_gradient_norm", 5.0, {"type": float}),
    ("--no-gradient-clipping", "clip_gradients", True, {"action": "store_false"}),
    ("--use-gru", "use_gru", None, {"action": "store_true"}),
    ("--target-embedding-size", "target_embedding_size", None, {"type": int}),
    ("--attn-num-hidden", "attn_num_hidden", None, {"type": int}),
    ("--attn-num-layers", "attn_num_layers", None, {"type": int}),
)


def add_arguments(parser) -> None:
    globals_ = parser.add_argument_group("aocr's global flags (also accepted before the subcommand, as aocr takes them)")
    for flag, dest, _, keywords in GLOBAL_FLAGS:
        globals_.add_argument(flag, dest=f"global_{dest}", default=argparse.SUPPRESS, **keywords,
                              help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="aocr_command", metavar="AOCR_COMMAND")
    commands.required = True

    dataset = commands.add_parser("dataset", help="annotation file → TFRecords")
    dataset.add_argument("annotations_path", help="text file: 'IMAGE-PATH LABEL' per line")
    dataset.add_argument("output_path", help="TFRecords file to write")
    dataset.add_argument("--log-step", type=int, default=500, help="log every N images (default 500)")
    dataset.add_argument("--no-force-uppercase", dest="force_uppercase", action="store_false", default=True,
                         help="check labels as they are, not upper-cased")
    dataset.add_argument("--save-filename", action="store_true", help="store each image's path as its comment")
    dataset.add_argument("--max-prediction", type=int, default=8, help="report labels longer than this (default 8)")
    dataset.add_argument("--full-ascii", action="store_true", help="check labels against printable ASCII")
    dataset.add_argument("--charset", metavar="FILE", help="check labels against this charset file")
    dataset.add_argument("--log-path", default="aocr.log")
    dataset.set_defaults(aocr_handler=run_dataset)

    train = commands.add_parser("train", help="train (or resume training) a model")
    train.add_argument("dataset_path", nargs="+", help="TFRecords file(s) or glob(s); local or gs://")
    _run_flags(train)
    _model_flags(train)
    train.add_argument("--init-from", metavar="MODEL_DIR",
                       help="start a new model from this model's weights (`pretrained`: the bundled one), to "
                            "fine-tune it or grow --max-prediction/--max-width; ignored when resuming")
    train.add_argument("--steps-per-checkpoint", type=int, default=100, help="checkpoint every N steps (default 100)")
    train.add_argument("--keep-checkpoints", type=int, default=3,
                       help="keep the newest N checkpoints (default 3); more to average later (`aocr average`)")
    train.add_argument("--num-epoch", type=int, default=1000, help="passes over the data (default 1000)")
    train.add_argument("--num-steps", type=int, default=None, help="stop after this many steps in all")
    train.add_argument("--no-resume", dest="resume", action="store_false", default=True,
                       help="start a new model instead of resuming from the latest checkpoint")
    train.add_argument("--initial-learning-rate", type=float, default=None,
                       help="default 1.0 for AdaDelta (aocr's), 0.001 for Adam")
    train.add_argument("--optimizer", choices=("adadelta", "adam"), default="adadelta",
                       help="adadelta (aocr's, default) or adam")
    train.add_argument("--max-gradient-norm", type=float, default=5.0, help="clip gradients to this norm (default 5)")
    train.add_argument("--no-gradient-clipping", dest="clip_gradients", action="store_false", default=True)
    train.add_argument("--width-jitter", type=_jitter_range, default=None, metavar="LOW,HIGH",
                       help="squeeze or stretch half the images across by a random factor in LOW..HIGH "
                            "(e.g. 0.65,1.25): condensed and extended letters for fonts that have none")
    train.add_argument("--dropout", type=float, default=None,
                       help="dropout rate of the CNN's features while training (default: the saved one; 0.5, "
                            "aocr's, for a new model); unlike the model flags it may change on resume")
    train.add_argument("--output-dir", default="./results", help="unused by train; accepted as aocr does")
    train.set_defaults(aocr_handler=run_train)

    test = commands.add_parser("test", help="read a TFRecords set and report word and character accuracy")
    test.add_argument("dataset_path", nargs="+", help="TFRecords file(s) or glob(s)")
    _run_flags(test)
    _model_flags(test)
    test.add_argument("--output-dir", default="./results", help="where --visualize writes (default ./results)")
    test.add_argument("--visualize", action="store_true",
                      help="write attention GIFs/PNG strips and an index.html under --output-dir (reads "
                           "each word once, at its own width)")
    test.add_argument("--no-distance", dest="use_distance", action="store_false", default=True,
                      help="report exact-word accuracy only")
    test.add_argument("--max-images", type=int, default=None, help="stop after this many images")
    test.add_argument("--misreads", metavar="FILE", default=None,
                      help="write every wrong reading to FILE (tab-separated: record, truth, reading, probability)")
    test.add_argument("--misread-records", metavar="FILE", default=None,
                      help="write the records of the wrong readings, byte for byte, to the TFRecords FILE: to "
                           "read again with another model, or to train on the words a model gets wrong")
    _engine_flags(test)
    test.set_defaults(aocr_handler=run_test)

    predict = commands.add_parser("predict", help="read word images (given, or their paths on stdin), print what "
                                                  "each says")
    predict.add_argument("inputs", nargs="*", type=Path, metavar="IMAGE",
                         help="image files, or directories (the images in each, by name); without any, image "
                              "paths are read from stdin, one a line, as aocr reads them")
    _run_flags(predict)
    _model_flags(predict)
    _engine_flags(predict)
    predict.set_defaults(aocr_handler=run_predict)

    export = commands.add_parser("export", help="write a SavedModel (for TF Serving) or a frozen graph (for OpenVINO)")
    export.add_argument("export_path", nargs="?", default="./exported-model",
                        help="directory to write (default ./exported-model)")
    export.add_argument("--format", choices=("savedmodel", "frozengraph"), default="savedmodel")
    export.add_argument("--version", type=int, default=None,
                        help="SavedModel version directory (default: one more than the highest present, else 1)")
    _run_flags(export)
    _model_flags(export)
    export.set_defaults(aocr_handler=run_export)

    average = commands.add_parser("average", help="one model from the mean weights of a run's last checkpoints")
    average.add_argument("output_dir", help="model directory to write: config.json and one weights-only checkpoint")
    average.add_argument("--last", type=int, default=10,
                         help="average the newest N checkpoints the run keeps (default 10; train with "
                              "--keep-checkpoints N or more)")
    _run_flags(average)
    average.set_defaults(aocr_handler=run_average)

    google = commands.add_parser("google-fonts", help="fetch Google Fonts families (npm's Fontsource packages) "
                                 "for synth --fonts-dir")
    google.add_argument("output_dir", help="directory to write the families into (one subdirectory each)")
    google.add_argument("--registry", help="npm registry (default https://registry.npmjs.org)")
    google.add_argument("--limit", type=int, help="fetch only the first N families in name order")
    google.add_argument("-j", "--jobs", type=int, default=8, help="downloads at once (default 8)")
    google.add_argument("--log-path", default="aocr.log")
    google.set_defaults(aocr_handler=run_google_fonts)

    synth = commands.add_parser("synth", help="render N labelled synthetic word images into TFRecords")
    synth.add_argument("count", type=int, help="number of images")
    synth.add_argument("output_path", help="TFRecords file to write")
    synth.add_argument("--seed", type=int, default=0, help="the same seed and fonts give the same file (default 0)")
    synth.add_argument("--held-out", action="store_true",
                       help="use only the held-out font families (for test sets; training uses the others)")
    synth.add_argument("--all-fonts", action="store_true", help="use every font, ignoring the held-out split")
    synth.add_argument("--fonts", action="append", metavar="GLOB", help="only fonts whose family or file matches")
    synth.add_argument("--fonts-dir", action="append", metavar="DIR", help="look for fonts here (default: system dirs)")
    synth.add_argument("--words", metavar="FILE", help="word list (default /usr/share/dict/words if installed)")
    synth.add_argument("--random-share", type=float, default=0.3,
                       help="share of random letter/digit strings among the words (default 0.3)")
    synth.add_argument("--max-prediction", type=int, default=8, help="longest word (default 8)")
    synth.add_argument("--full-ascii", action="store_true")
    synth.add_argument("--charset", metavar="FILE")
    synth.add_argument("--no-force-uppercase", dest="force_uppercase", action="store_false", default=True)
    synth.add_argument("--backgrounds", type=lambda text: tuple(k.strip() for k in text.split(",") if k.strip()),
                       metavar="KIND,…", help="background kinds from plain, gradient, noise, texture, photo, "
                       "lines (default: all but lines for training, all with --held-out)")
    synth.add_argument("--photos-dir", action="append", metavar="DIR",
                       help="photos for the photo kind (default: Debian's wallpapers, which make aocr-fonts "
                            "installs); one in five is held out, as font families are")
    synth.add_argument("--renderer", choices=("pillow", "imagemagick"), default="pillow",
                       help="pillow (default; training data) or imagemagick (a renderer training never saw, for "
                            "held-out sets; apt-get install imagemagick)")
    synth.add_argument("--text-effects", type=float, default=0.0, metavar="SHARE",
                       help="share of words drawn with an outline, a shadow, an underline or a line struck "
                            "through (default 0; make aocr-data draws 0.5)")
    synth.add_argument("-j", "--jobs", type=int, default=1, help="rendering processes (default 1)")
    synth.add_argument("--log-path", default="aocr.log")
    synth.set_defaults(aocr_handler=run_synth)


def _apply_global_flags(args) -> None:
    """A global flag given before the subcommand fills the subcommand's value when the subcommand did not
    set it (after the subcommand it wins, as the nearer flag)."""
    for _, dest, default, _ in GLOBAL_FLAGS:
        if not hasattr(args, f"global_{dest}"):
            continue
        value = getattr(args, f"global_{dest}")
        if not hasattr(args, dest) or getattr(args, dest) == default:
            setattr(args, dest, value)


def run(args) -> int:
    _apply_global_flags(args)
    _bundled_model_dir(args)
    _check_numbers(args)
    _check_engine_flags(args)
    _log_to_file(getattr(args, "log_path", ""))
    if getattr(args, "gpu_id", None) is not None:
        _use_gpu(args.gpu_id)
    return args.aocr_handler(args)


# ---------------------------------------------------------------------------------------------- helpers

def _bundled_model_dir(args) -> None:
    """`--model-dir pretrained` reads the bundled model (as `train --init-from pretrained` starts from it),
    unless a directory of that name is here. Training never writes into the installed package."""
    if getattr(args, "model_dir", None) == "pretrained" and args.aocr_handler is not run_train \
            and not Path("pretrained").is_dir():
        from ovconvert.families.aocr import PRETRAINED_DIR

        args.model_dir = str(PRETRAINED_DIR)


def _check_numbers(args) -> None:
    """Flags that must be positive, checked before any work (aocr's own argparse does not)."""
    from ovconvert.errors import UserError

    for name in ("batch_size", "steps_per_checkpoint", "keep_checkpoints", "last", "num_epoch", "num_steps",
                 "count", "jobs", "max_images", "max_prediction", "max_width", "max_height"):
        value = getattr(args, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 1:
            raise UserError(f"--{name.replace('_', '-')} {value}: give at least 1")
    for flag, example in (("misreads", "misreads.tsv"), ("misread_records", "misreads.tfrecords")):
        value = getattr(args, flag, None)
        if not value:
            continue
        target, option = Path(value), "--" + flag.replace("_", "-")
        if target.is_dir():
            raise UserError(f"{option} {value} is a directory; give the file to write, e.g. {target / example}")
        if not target.parent.is_dir():
            raise UserError(f"{option} {value}: the directory {target.parent} does not exist; create it first")
    output = getattr(args, "output_path", None)
    if output and "://" not in output:
        target = Path(output)
        if target.is_dir():
            raise UserError(f"{output} is a directory; give the TFRecords file to write, e.g. {target / 'data.tfrecords'}")
        if not target.parent.is_dir():
            raise UserError(f"{output}: the directory {target.parent} does not exist; create it first")


def _check_engine_flags(args) -> None:
    """OpenVINO's flags mean nothing to --engine tensorflow: say so rather than read at f32 on TensorFlow
    while the user believes they asked for bf16 or a GPU."""
    from ovconvert.errors import UserError

    if getattr(args, "engine", "openvino") == "openvino":
        return
    for flag, default in (("precision", "f32"), ("device", "CPU")):
        if getattr(args, flag, default) != default:
            raise UserError(f"--{flag} {getattr(args, flag)} applies to --engine openvino; "
                            f"add --engine openvino, or leave --{flag} out")


def _log_to_file(path: str) -> None:
    if not path:
        return
    from ovconvert.errors import UserError

    try:
        handler = logging.FileHandler(path)
    except OSError as error:
        raise UserError(f"--log-path {path}: cannot write the log there ({error.strerror}); give a file in an "
                        "existing directory, or --log-path '' for none") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("ovconvert")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:  # the file gets progress lines whatever the console shows
        logger.setLevel(logging.INFO)


def _use_gpu(gpu_id: int) -> None:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        log.warning("--gpu-id %d: no GPU visible; running on the CPU", gpu_id)
        return
    if gpu_id >= len(gpus):
        from ovconvert.errors import UserError
        raise UserError(f"--gpu-id {gpu_id}: only {len(gpus)} GPU(s) visible (ids 0-{len(gpus) - 1})")
    tf.config.set_visible_devices(gpus[gpu_id], "GPU")


def requested_config(args) -> dict:
    """The model settings the user typed (see the module docstring)."""
    from ovconvert.aocr import charset

    values = {name: getattr(args, name) for name in MODEL_FLAGS if hasattr(args, name)}
    if hasattr(args, "force_uppercase"):
        values["force_uppercase"] = args.force_uppercase
    if hasattr(args, "color"):
        values["channels"] = 3
    if hasattr(args, "charset") or hasattr(args, "full_ascii"):
        values["charset"] = charset.from_options(getattr(args, "full_ascii", False),
                                                 getattr(args, "charset", None)).characters
    return values


def load_model(args):
    """The model --model-dir names, checked against the model flags typed. The OpenVINO engine needs no
    network in TensorFlow (its IR is converted from the model directory), so it loads the settings only."""
    from ovconvert.aocr import trained

    return trained.load(args.model_dir, requested_config(args),
                        weights=getattr(args, "engine", "tensorflow") == "tensorflow")


def _check_charset_options(args) -> str:
    from ovconvert.aocr import charset

    return charset.from_options(args.full_ascii, args.charset).characters


# ---------------------------------------------------------------------------------------------- commands

def run_dataset(args) -> int:
    from ovconvert.aocr import dataset_builder

    characters = _check_charset_options(args)
    summary = dataset_builder.build(args.annotations_path, args.output_path, characters, args.max_prediction,
                                    args.force_uppercase, args.save_filename, args.log_step)
    print(json.dumps(summary))
    return 0


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {text!r}")
    return value


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a weight of 0 or more ({SPELLING_WEIGHT}, the default; 0 to turn "
                                         f"it off), got {text!r}")
    return value


def _jitter_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (e.g. 0.65,1.25), got {text!r}") from None
    if not 0 < low <= high:
        raise argparse.ArgumentTypeError(f"expected 0 < LOW <= HIGH, got {text!r}")
    return low, high


def run_export(args) -> int:
    from ovconvert.aocr import export

    model = load_model(args)
    if args.format == "savedmodel":
        path = export.export_saved_model(model, args.export_path, args.version)
    else:
        path = export.export_frozen_graph(model, args.export_path)
    print(path)
    return 0


def run_average(args) -> int:
    from ovconvert.aocr import average

    averaged = average.average(args.model_dir, args.last)
    print(average.write(averaged, args.model_dir, args.output_dir))
    return 0


def run_google_fonts(args) -> int:
    import string

    from ovconvert.aocr import google_fonts

    summary = google_fonts.fetch(args.output_dir, string.digits + string.ascii_letters, args.jobs,
                                 args.registry or google_fonts.REGISTRY, args.limit)
    print(json.dumps({key: value for key, value in summary.items() if key not in ("left_out", "not_fetched")}
                     | {"left_out": len(summary["left_out"]), "not_fetched": len(summary["not_fetched"])}))
    return 0


def run_synth(args) -> int:
    from ovconvert.aocr import dataset_builder

    characters = _check_charset_options(args)
    summary = dataset_builder.synthesize(args.count, args.output_path, characters, args.max_prediction, args.force_uppercase,
                                 seed=args.seed, held_out=None if args.all_fonts else args.held_out,
                                 font_patterns=args.fonts, font_dirs=args.fonts_dir, words_path=args.words,
                                 random_share=args.random_share, jobs=args.jobs, backgrounds=args.backgrounds,
                                 renderer=args.renderer, photo_dirs=args.photos_dir,
                                 text_effects=args.text_effects)
    print(json.dumps(summary))
    return 0
