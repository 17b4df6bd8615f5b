"""ovconvert predict IR INPUT…: answers from a converted IR alone (OpenVINO, NumPy, Pillow): class names
with scores, boxes, or words — the reference client of a model `ovconvert run` deployed."""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("ir", type=Path, help="an IR written by `ovconvert run` (ir/NAME.xml, or DIR/NAME/1/model.xml "
                                              "of --ovms-repo)")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files")
    parser.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    parser.add_argument("--top-k", type=int, default=5, help="classes to print (default 5)")
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="detections: lowest score shown (default: the one the IR was validated with)")
    parser.add_argument("--json", action="store_true", help="one JSON object per input instead of text")


def run(args) -> int:
    import json
    import sys

    from ovconvert.errors import UserError
    from ovconvert.predict import Predictor

    if args.top_k < 1:
        raise UserError(f"--top-k {args.top_k}: give at least 1")
    predictor = Predictor(args.ir, args.device, args.top_k, args.score_threshold)
    failed = 0
    for path in args.inputs:
        try:
            answer = predictor(path)
        except UserError as error:  # one unreadable file does not stop the others
            print(f"ovconvert: error: {error.one_line()}", file=sys.stderr)
            failed += 1
            continue
        print(json.dumps(answer.to_json()) if args.json else answer.line(), flush=True)
    return 2 if failed else 0
