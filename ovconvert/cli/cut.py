"""ovconvert cut MODEL.pb --input SPEC --output NODES -o OUT.pb: cut a frozen graph in TensorFlow terms."""

from __future__ import annotations

import shutil
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("model", help="frozen GraphDef (.pb or .pbtxt)")
    parser.add_argument("--input", action="append", default=[], metavar="SPEC",
                        help="cut input as node:port[shape]{type}; -1 dims are read from the graph (repeatable)")
    parser.add_argument("--output", required=True, help="output node names, comma-separated")
    parser.add_argument("-o", "--output-file", type=Path, required=True, help="cut GraphDef to write")


def run(args) -> int:
    from ovconvert.stages.cut import cut

    work = args.output_file.parent / (args.output_file.name + ".work")
    try:
        result = cut(Path(args.model), tuple(args.input), tuple(o for o in args.output.split(",") if o), work)
        result.path.replace(args.output_file)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.output_file}: inputs {', '.join(map(str, result.inputs))}; outputs {', '.join(result.outputs)}")
    return 0
