"""ovconvert convert MODEL.pb -o DIR: run mo (or ovc) with structured options, safely."""

from __future__ import annotations

from pathlib import Path


def _numbers(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.strip("[]").split(",") if v.strip())


def add_arguments(parser) -> None:
    parser.add_argument("model", help="frozen GraphDef (.pb) or .tflite")
    parser.add_argument("-o", "--output-dir", type=Path, required=True)
    parser.add_argument("--name", help="IR file name (default: the model's)")
    parser.add_argument("--input", action="append", default=[], metavar="SPEC", help="input as node[shape]{type}")
    parser.add_argument("--output", default="", help="output node names, comma-separated")
    parser.add_argument("--mean-values", type=_numbers)
    parser.add_argument("--scale-values", type=_numbers)
    parser.add_argument("--scale", type=float)
    parser.add_argument("--reverse-input-channels", action="store_true")
    parser.add_argument("--layout")
    parser.add_argument("--compress-to-fp16", action="store_true")
    parser.add_argument("--transformations-config", help="mo's --transformations_config, e.g. "
                        "OPENVINO/tools/mo/front/tf/ssd_v2_support.json (checked to exist)")
    parser.add_argument("--pipeline-config", help="an Object Detection API pipeline.config (checked to exist)")
    parser.add_argument("--backend", choices=("mo", "ovc"), default="mo")
    parser.add_argument("--timeout", type=int, default=600, help="seconds (default 600)")
    parser.add_argument("--dry-run", action="store_true", help="print the command and stop")


def run(args) -> int:
    from ovconvert.graph.tensor_spec import parse_tensor_spec
    from ovconvert.recipes.schema import Convert
    from ovconvert.stages.convert import convert

    spec = Convert(backend=args.backend, mean_values=args.mean_values, scale_values=args.scale_values,
                   scale=args.scale, reverse_input_channels=args.reverse_input_channels, layout=args.layout,
                   compress_to_fp16=args.compress_to_fp16, timeout_s=args.timeout,
                   transformations_config=args.transformations_config, pipeline_config=args.pipeline_config)
    inputs = tuple(parse_tensor_spec(text) for text in args.input)
    # -o is the IR's directory itself (a run directory's ir/ is the pipeline's layout, not this command's).
    ir = convert(spec, Path(args.model), inputs, tuple(o for o in args.output.split(",") if o), args.output_dir,
                 args.name or Path(args.model).stem, dry_run=args.dry_run,
                 fix_hint="flags of `ovconvert convert` (--input, --output, …)", ir_subdir="")
    if ir is not None:
        print(f"IR: {ir.xml} ({ir.seconds:.1f} s)")
    return 0
