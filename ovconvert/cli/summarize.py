"""ovconvert summarize MODEL: OpenVINO summarize_graph's report (same text), plus --details and --json.

A frozen .pb/.pbtxt is read without TensorFlow (fast); other formats are frozen first, as OpenVINO's
tool does.
"""

from __future__ import annotations

import argparse

import json
import sys
import tempfile
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("model", help="frozen .pb/.pbtxt, inference graph with --checkpoint, .meta, SavedModel dir, "
                        ".tflite")
    parser.add_argument("--text", action="store_true", help="the .pb is a text protobuf")
    # The flag named in errors: summarize_graph (the drop-in) calls this command with its own flag's name.
    parser.add_argument("--text-flag-name", default="--text", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help="checkpoint to freeze the inference graph or MetaGraph with")
    parser.add_argument("--tags", default="serve", help="SavedModel tags, comma-separated (default: serve)")
    parser.add_argument("--weights", choices=("checkpoint", "initializers"), default="checkpoint",
                        help="'initializers': run the graph's own initialisers (a SavedModel with no weights)")
    parser.add_argument("--details", action="store_true",
                        help="also print op types, noisy outputs, a suggested cut and its mo command")
    parser.add_argument("--unsupported", action="store_true",
                        help="ask OpenVINO's TensorFlow frontend which ops it cannot convert (slower)")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")


def graph_for_summary(model: str, text: bool = False, checkpoint: str | None = None, tags: str = "serve",
                      weights: str = "checkpoint", work_dir: Path | None = None, text_flag: str = "--text"):
    """The GraphDef to summarize and the path of a frozen file holding it."""
    from ovconvert.errors import UserError
    from ovconvert.graph import proto

    path = Path(model)
    if not path.exists():
        raise UserError(f"model {model} not found; check the path")
    if path.is_file() and path.suffix in (".pb", ".pbtxt") and not checkpoint and path.name != "saved_model.pb":
        return proto.read_graph_def(path, text=True if text else None, text_flag=text_flag), path
    from ovconvert.recipes.schema import Freeze
    from ovconvert.stages.freeze import freeze

    if (path.is_dir() or path.name == "saved_model.pb") and weights == "checkpoint":
        directory = path if path.is_dir() else path.parent
        if not (directory / "saved_model.pb").is_file() and not (directory / "saved_model.pbtxt").is_file():
            raise UserError(f"{directory} is a directory without saved_model.pb, so not a SavedModel; give a "
                            "SavedModel directory or a frozen .pb")
        graph = _saved_model_as_openvino_loads_it(directory, tags)
        frozen_path = (work_dir or Path(tempfile.mkdtemp(prefix="ovconvert-summarize-"))) / "frozen.pb"
        return graph, proto.write_graph_def(graph, frozen_path)
    if path.is_dir() or path.name == "saved_model.pb":
        directory = path if path.is_dir() else path.parent
        spec = Freeze(format="saved_model", saved_model_dir=str(directory), tags=tuple(tags.split(",")),
                      weights=weights)
    elif path.suffix == ".meta":
        spec = Freeze(format="meta_graph", graph=str(path), checkpoint=checkpoint, weights=weights,
                      outputs=_all_sinks(path))
    else:
        spec = Freeze(format="checkpoint", graph=str(path), checkpoint=checkpoint, weights=weights,
                      outputs=_all_sinks(path))
    frozen = freeze(spec, "slim", work_dir or Path(tempfile.mkdtemp(prefix="ovconvert-summarize-")))
    return proto.read_graph_def(frozen.path), frozen.path


def _saved_model_as_openvino_loads_it(directory: Path, tags: str):
    """The GraphDef OpenVINO's summarize_graph.py summarizes for a SavedModel: mo's own loader (the
    signature's function, frozen), so the drop-in gives its answer — one input and the signature's
    outputs for a TF2 SavedModel, the same on every run — not the function library's control-flow
    placeholders."""
    from openvino.tools.mo.front.tf.loader import load_tf_graph_def

    from ovconvert.errors import UserError

    try:
        graph, _, _, _ = load_tf_graph_def(graph_file_name="", is_binary=True, checkpoint="", model_dir=str(directory),
                                           saved_model_tags=tags.split(","))
    except Exception as error:  # mo's loader raises what TensorFlow raises, of many kinds
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot load SavedModel {directory}: {first}; if its weights are missing, add "
                        "--weights initializers") from None
    from ovconvert.graph import proto

    converted = proto.GraphDef()
    converted.ParseFromString(graph.SerializeToString())
    # TensorFlow's freezing emits the nodes in an order that changes from run to run (OpenVINO's script
    # prints its outputs in a different order on different runs); by name, every run says the same.
    nodes = sorted(converted.node, key=lambda node: node.name)
    del converted.node[:]
    converted.node.extend(nodes)
    return converted


def _all_sinks(path: Path) -> tuple[str, ...]:
    """Freeze keeps what its outputs need; to summarize the whole graph, keep every sink node."""
    from ovconvert.graph import proto
    from ovconvert.graph.tensor_spec import split_tensor_name

    if path.suffix == ".meta":
        meta = proto.MetaGraphDef()
        meta.ParseFromString(path.read_bytes())
        graph = meta.graph_def
    else:
        graph = proto.read_graph_def(path)
    consumed = {split_tensor_name(i)[0] for node in graph.node for i in node.input}
    return tuple(node.name for node in graph.node if node.name not in consumed and not node.name.startswith("save"))


def run(args) -> int:
    from ovconvert.graph.tflite import is_tflite
    from ovconvert.stages.summarize import summarize

    if Path(args.model).is_file() and is_tflite(args.model):
        return _summarize_tflite(args)
    # A model that needs freezing first is frozen into a temporary directory, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="ovconvert-summarize-") as work:
        graph, frozen_path = graph_for_summary(args.model, args.text, args.checkpoint, args.tags, args.weights,
                                               Path(work), args.text_flag_name)
        summary = summarize(graph, str(frozen_path) if args.unsupported else None)
        if args.json:
            print(json.dumps(summary.to_json(), indent=2))
            return 0
        sys.stdout.write(summary.ov_text())
        if args.details or args.unsupported:
            sys.stdout.write("\n" + summary.details_text(str(frozen_path)))
    return 0


def _summarize_tflite(args) -> int:
    """A .tflite: its tensors with their quantization, op types, and (with --unsupported or --details)
    the ops OpenVINO's TFLite frontend cannot convert."""
    from ovconvert.graph.tflite import summarize_tflite

    summary = summarize_tflite(Path(args.model), check_unsupported=args.unsupported or args.details or args.json)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        sys.stdout.write(summary.text())
    return 0
