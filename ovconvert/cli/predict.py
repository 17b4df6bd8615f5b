"""ovconvert predict IR INPUT…: answers from a converted IR alone (OpenVINO, NumPy, Pillow): class names
with scores, boxes, or words — the reference client of a model `ovconvert run` deployed."""

from __future__ import annotations

from pathlib import Path

# What a directory given as an INPUT is searched for: the formats load_image reads (Pillow's).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


def image_paths(inputs: list[Path]) -> list[Path]:
    """Files as given (a file that is no image is reported when read); a directory as its image files,
    sorted by name, not descending into subdirectories."""
    from ovconvert.errors import UserError

    paths = []
    for path in inputs:
        if not path.is_dir():
            paths.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise UserError(f"{path}: a directory with no image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                            "give image files or a directory of them")
        paths.extend(found)
    return paths


def add_arguments(parser) -> None:
    parser.add_argument("ir", type=Path, help="an IR written by `ovconvert run` (ir/NAME.xml, or DIR/NAME/1/model.xml "
                                              "of --ovms-repo)")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="image files, or directories: the images in each, by name")
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
    paths = image_paths(args.inputs)
    predictor = Predictor(args.ir, args.device, args.top_k, args.score_threshold)
    failed = 0
    for path in paths:
        try:
            answer = predictor(path)
        except UserError as error:  # one unreadable file does not stop the others
            print(f"ovconvert: error: {error.one_line()}", file=sys.stderr)
            failed += 1
            continue
        print(json.dumps(answer.to_json()) if args.json else answer.line(), flush=True)
    return 2 if failed else 0
