"""The `ovconvert` command line: a thin layer over the Python API, one module per subcommand.

Each subcommand module has add_arguments(parser) and run(args) -> exit code; heavy imports live inside
run() so that `ovconvert --help` answers at once. Errors become one line and a documented exit code
(see ovconvert.errors); only a bug prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from ovconvert import __version__
from ovconvert.errors import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, SIGTERM_RECEIVED, OvconvertError, Terminated

SUBCOMMANDS = {
    "run": "convert recipes end to end: acquire, freeze, summarize, cut, convert, validate, report",
    "list": "list the recipes",
    "show": "show a recipe as loaded (with --set overrides) and its mo command",
    "summarize": "summarize a TensorFlow model's inputs and outputs (OpenVINO's summarize_graph, and more)",
    "freeze": "freeze a checkpoint, MetaGraph, SavedModel or Keras model into a frozen GraphDef",
    "cut": "cut a frozen GraphDef at the given input tensors and outputs",
    "convert": "convert a frozen GraphDef to OpenVINO IR with mo or ovc",
    "validate": "validate a run's IR against TensorFlow again (after editing tolerances, say)",
    "bench": "time a run's IRs against the framework again, and cross-check with benchmark_app",
    "predict": "answers from a converted IR alone: classes, boxes or words for image files",
    "init": "say which family and recipe a model matches, and write a ready recipe for it",
    "check": "conversion checks for CI: recipes to validated IRs, JUnit/Markdown reports, a baseline",
    "aocr": "attention OCR: aocr's dataset/train/test/predict/export in TensorFlow 2, and synthetic data",
}
MODULES = {"list": "listing"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ovconvert", description="TensorFlow → OpenVINO IR, validated.",
                                     epilog="exit codes: 0 success, 1 validation failed, 2 user error, "
                                            "3 tool failure (TensorFlow, mo, download), 70 internal error")
    parser.add_argument("--version", action="version", version=f"ovconvert {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show debug messages, and TensorFlow's own C++ log lines")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="only warnings, errors and each command's result lines")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"ovconvert.cli.{MODULES.get(name, name)}")
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def setup_logging(verbose: bool, quiet: bool = False) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    if quiet:  # the console shows warnings and errors; a log file (aocr --log-path) still gets everything
        for handler in root.handlers:
            if handler not in before:
                handler.setLevel(logging.WARNING)
    # TensorFlow's C++ log: at level 2 it still prints "Unable to register cuDNN/cuFFT/cuBLAS factory" on
    # every import, on machines without a GPU. What goes wrong reaches us as Python exceptions, whose
    # messages we print, so the C++ lines are shown only with -v.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    if not verbose:
        import warnings

        for module in ("keras", "tf_keras", "tensorflow", "tf_slim"):  # deprecation notes meant for their authors
            warnings.filterwarnings("ignore", category=UserWarning, module=module)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    for noisy in ("tensorflow", "absl", "h5py", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR if not verbose else logging.INFO)


def console_main() -> int:
    """The `ovconvert` console command (and `python -m ovconvert`): main(), with TensorFlow's native log
    noise filtered from stderr unless -v is given (see native_noise)."""
    if not {"-v", "--verbose"} & set(sys.argv[1:]):
        from ovconvert.cli import native_noise

        native_noise.install()
    return main()


def _on_sigterm(signum, frame):
    SIGTERM_RECEIVED.set()  # for stop_if_terminated, should the exception below be swallowed
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    import signal
    import threading

    previous = None
    SIGTERM_RECEIVED.clear()
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    try:
        return args.handler(args)
    except OvconvertError as error:
        print(f"ovconvert: error: {error.one_line()}", file=sys.stderr)
        return error.exit_code
    except Terminated:
        print("ovconvert: terminated (SIGTERM); stopped cleanly", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("ovconvert: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ovconvert list | head`: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")
        return 0
    except Exception:  # a bug: say so, with the traceback, and ask for a report
        traceback.print_exc()
        print("ovconvert: internal error (a bug in ovconvert); please report it with the traceback above",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def add_recipe_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value for this run, e.g. --set cut.inputs=['input:0[1,160,160,3]']")


def add_precision_options(parser: argparse.ArgumentParser) -> None:
    """--device, --precision, --strict-precision: where the IR is validated and which deployment precisions
    are judged besides the pinned f32 that decides correctness (docs/architecture.md, "Precisions")."""
    group = parser.add_argument_group("device and precision")
    group.add_argument("--device", default="CPU", help="OpenVINO device to validate on: CPU (default), GPU, AUTO, …")
    group.add_argument("--precision", type=parse_precisions, default=None, metavar="LIST",
                       help="deployment precisions to judge besides f32, comma-separated from default, bf16, f16; "
                            "`none` for f32 only (default: the device's default and every precision it runs "
                            "natively)")
    group.add_argument("--strict-precision", action="store_true",
                       help="fail (exit 1) when a deployment precision changes the answers, instead of warning")


def parse_precisions(text: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    if names == ("none",):
        return ()
    unknown = [name for name in names if name not in ("default", "f32", "bf16", "f16")]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list of default, bf16, f16 "
                                         "(or none)")
    return names


def user_error_exit(message: str) -> int:
    print(f"ovconvert: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR
