"""ovconvert freeze MODEL -o OUT.pb: any TensorFlow format → one frozen GraphDef."""

from __future__ import annotations

import shutil
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("model", help="SavedModel dir, .meta, inference graph .pb (with --checkpoint), .keras/.h5")
    parser.add_argument("-o", "--output", type=Path, required=True, help="frozen GraphDef to write")
    parser.add_argument("--checkpoint", help="checkpoint prefix for an inference graph or MetaGraph")
    parser.add_argument("--outputs", default="", help="output node names, comma-separated")
    parser.add_argument("--tags", default="serve", help="SavedModel tags (default: serve)")
    parser.add_argument("--signature", default="serving_default", help="SavedModel signature")
    parser.add_argument("--weights", choices=("checkpoint", "initializers"), default="checkpoint")


def run(args) -> int:
    from ovconvert.errors import UserError
    from ovconvert.recipes.schema import Freeze
    from ovconvert.stages.freeze import freeze

    path = Path(args.model)
    outputs = tuple(o for o in args.outputs.split(",") if o)
    if path.is_dir():
        spec = Freeze(format="saved_model", saved_model_dir=str(path), tags=tuple(args.tags.split(",")),
                      signature=args.signature, weights=args.weights, outputs=outputs)
    elif path.suffix in (".keras", ".h5"):
        spec = Freeze(format="keras", keras_model=str(path))
    elif path.suffix == ".meta":
        spec = Freeze(format="meta_graph", graph=str(path), checkpoint=args.checkpoint, weights=args.weights,
                      outputs=outputs)
    elif args.checkpoint or args.weights == "initializers":
        spec = Freeze(format="checkpoint", graph=str(path), checkpoint=args.checkpoint, weights=args.weights,
                      outputs=outputs)
    else:
        raise UserError(f"{path} looks frozen already; give --checkpoint to freeze an inference graph")
    if spec.format in ("meta_graph", "checkpoint") and not outputs:
        raise UserError("name the output nodes with --outputs (`ovconvert summarize` lists candidates)")
    work = args.output.parent / (args.output.name + ".work")
    try:
        frozen = freeze(spec, "slim", work)
        frozen.path.replace(args.output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.output}: {frozen.node_count} nodes, outputs {', '.join(frozen.outputs)}")
    return 0
