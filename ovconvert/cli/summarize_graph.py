"""`summarize_graph`: a drop-in for OpenVINO's summarize_graph.py, with its flags and its output."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="summarize_graph", description="Inputs and outputs of a TensorFlow model")
    parser.add_argument("--input_model", default="", help="path to a TensorFlow model")
    parser.add_argument("--input_model_is_text", dest="text", action="store_true",
                        help="treat the input model file as a text protobuf")
    parser.add_argument("--input_meta", action="store_true", help="treat the input model file as a MetaGraphDef")
    parser.add_argument("--input_checkpoint", default="", help="TensorFlow variables file to load")
    parser.add_argument("--saved_model_dir", default="", help="TensorFlow SavedModel directory")
    parser.add_argument("--saved_model_tags", default="serve", help="tags of the MetaGraphDef to load, comma-separated")
    parser.add_argument("--json", action="store_true", help="print JSON with the extra diagnostics (ovconvert)")
    argv_ = parser.parse_args(argv)
    if not argv_.input_model and not argv_.saved_model_dir:
        print("[ ERROR ] Please, provide --input_model and --input_model_is_text if needed or --saved_model_dir")
        return 1
    if argv_.input_model and argv_.saved_model_dir:
        print("[ ERROR ] Both --input_model and --saved_model_dir were given. Please, provide only one of them")
        return 1
    from ovconvert.cli import main as ovconvert_main

    command = ["summarize", argv_.input_model or argv_.saved_model_dir, "--tags", argv_.saved_model_tags,
               "--text-flag-name=--input_model_is_text"]
    if argv_.text:
        command.append("--text")
    if argv_.input_checkpoint:
        command += ["--checkpoint", argv_.input_checkpoint]
    if argv_.json:
        command.append("--json")
    return ovconvert_main(command)


if __name__ == "__main__":
    sys.exit(main())
