"""The bundled AOCR model (ovconvert.aocr): exported to a frozen graph, cut at the preprocessed image,
converted, and validated on word images by comparing the text TensorFlow and the IR read.

The source builder `frozen_graph` runs `ovconvert aocr export --format frozengraph` on a model directory
(the pretrained model shipped in ovconvert/aocr/pretrained by default); the cache key includes a hash of
the checkpoint, so a retrained model is exported again. The charset for decoding `step_ids` comes from
the config.json the export writes beside the graph (validate.args.config).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ovconvert.errors import UserError

log = logging.getLogger("ovconvert")

# Code besides this module that decides what the recipes convert (ovconvert check --changed-since).
CODE_PATHS = ("ovconvert/aocr/",)
# IRs take any batch where the graph allows (convert.dynamic_batch unset): tried, and dropped when a
# batch does not answer as one input at a time.
ANY_BATCH = True
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "aocr" / "pretrained"
STRING_INPUT = "input:0"


# The modules whose code decides what the exported graph holds.
EXPORT_CODE = ("export.py", "model.py", "inference.py", "data.py", "config.py", "charset.py")


def _model_dir(args: dict) -> Path:
    return Path(args.get("model_dir") or PRETRAINED_DIR)


def source_fingerprint(builder: str, args: dict) -> str:
    """What the built source depends on besides the arguments: the checkpoint's bytes, and the code that
    builds the graph from it (a changed exporter must not be served an old graph from the cache)."""
    from ovconvert import aocr

    model_dir = _model_dir(args)
    code = Path(aocr.__file__).parent
    digest = hashlib.sha256()
    for path in [*sorted(model_dir.glob("*")), *(code / name for name in EXPORT_CODE)]:
        if path.is_file() and not path.name.startswith("."):  # not train's .train.lock: no part of the model
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def build_frozen_graph(args: dict, out_dir: Path) -> Path:
    from ovconvert.aocr import export, trained

    model_dir = _model_dir(args)
    model = trained.load(str(model_dir))
    canvas = args.get("canvas_width")  # aocr/canvas.py: the IR `--engine openvino` reads that canvas with
    log.info("      exporting the aocr model in %s (step %d) to a frozen graph%s", model_dir, model.step,
             f", read on a canvas {canvas} pixels wide" if canvas else "")
    return Path(export.export_frozen_graph(model, str(out_dir), canvas))


SOURCE_BUILDERS = {"frozen_graph": build_frozen_graph}


@functools.lru_cache(maxsize=8)
def _charset(config_path: str) -> str:
    return _model_config(config_path)["charset"]


def _model_config(config_path: str) -> dict:
    """The model's config.json, as `aocr export` writes it beside the frozen graph."""
    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        problem = None if isinstance(config, dict) and "charset" in config else "no charset in it"
    except (OSError, ValueError) as error:
        problem = str(error)
    if problem:
        raise UserError(f"validate.args.config {config_path}: cannot read the model's charset ({problem}); "
                        "point it at the config.json written by `ovconvert aocr export`")
    return config


def decode(outputs, recipe) -> str:
    """step_ids (the first output, [1, steps]) → text with the model's charset."""
    from ovconvert.aocr.charset import Charset

    charset = Charset(_charset(recipe.validate.args["config"]))
    return charset.decode(np.asarray(outputs[0]).reshape(-1))


def read_records_with_irs(report: dict, records: str, irs: list) -> tuple[list[str], list[list[tuple[str, float]]]]:
    """The labels of an aocr TFRecords file and what each IR in `irs` reads on it, at f32 on the CPU, as
    (text, probability) per word: TensorFlow decodes and preprocesses each image through the run's
    frozen graph (as validation does), each IR reads the tensor at the cut. For comparing an INT8 IR
    with the FP32 one on many words (the probability shows which readings were close calls anyway)."""
    import openvino as ov

    from ovconvert.families.aocr_legacy import samples_through_graph
    from ovconvert.aocr.charset import Charset
    from ovconvert.aocr.openvino_engine import text_and_probability
    from ovconvert.graph.tensor_spec import parse_tensor_spec

    class Cut:  # the cut as the run recorded it
        original_inputs = tuple(parse_tensor_spec(spec) for spec in report["cut"]["inputs"])
        outputs = tuple(report["cut"]["outputs"])

    frozen = Path(report["frozen_graph"]["path"])
    images = dataset_images(records)
    samples = samples_through_graph(str(frozen), Cut, STRING_INPUT, images)
    charset = Charset(_charset(str(frozen.parent / "config.json")))  # the export writes it beside the graph
    core, readings = ov.Core(), []
    for xml in irs:
        request = core.compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
        texts = []
        for sample in samples:
            request.infer(sample.ir_feed)
            texts.append(text_and_probability(request.get_output_tensor(0).data.reshape(-1),
                                              request.get_output_tensor(1).data, charset))
        readings.append(texts)
    return [label for _, _, label in images], readings


def dataset_images(path: str, count: int | None = None) -> list[tuple[str, bytes, str]]:
    """(name, encoded image, label) of the first `count` records of an aocr .tfrecords dataset that
    TensorFlow can decode (as training does, the others are left out); named FILE#RECORD-NUMBER."""
    from ovconvert.aocr.data import image_is_readable
    from ovconvert.aocr.records import parse_record, read_records

    if not Path(path).is_file():
        raise UserError(f"{path}: no such dataset file")
    images = []
    for number, record in enumerate(read_records([path]), start=1):
        if count is not None and len(images) >= count:
            break
        encoded, label, _ = parse_record(record)
        if image_is_readable(encoded):
            images.append((f"{Path(path).name}#{number}", encoded, label))
    return images


def sample_images(recipe) -> list[tuple[str, bytes, str]]:
    """(name, encoded image, label) from the files in validate.images: annotation files (aocr's
    'IMAGE-PATH LABEL' lines) or aocr datasets (.tfrecords, as `aocr dataset` and `aocr synth` write)."""
    from ovconvert.aocr.data import read_annotations, readable_image

    if not recipe.validate.images:
        raise UserError("validate.images: give annotation files of word images ('IMAGE-PATH LABEL' lines) "
                        "or aocr .tfrecords datasets")
    samples = []
    for annotation_file in recipe.validate.images:
        if annotation_file.endswith(".tfrecords"):
            samples += dataset_images(annotation_file, recipe.validate.count - len(samples))
            continue
        for line, path, label in read_annotations(annotation_file):
            if not Path(path).is_file():
                raise UserError(f"{annotation_file}:{line}: image {path} does not exist")
            encoded = readable_image(Path(path).read_bytes())
            if encoded is None:
                raise UserError(f"{annotation_file}:{line}: {path} is not a readable image (JPEG, PNG, GIF, "
                                "BMP, or another format Pillow reads); replace it or leave the line out")
            samples.append((Path(path).name, encoded, label))
    return samples[:recipe.validate.count]


def validation_samples(recipe, frozen, cut) -> list:
    """TensorFlow reads each image through the whole graph (decoding and preprocessing included); the
    tensor it computes at the cut is what the IR gets, so the comparison covers the cut too."""
    from ovconvert.families.aocr_legacy import samples_through_graph

    return samples_through_graph(frozen.path, cut, STRING_INPUT, sample_images(recipe))


# What the quantize stage calibrates on when the recipe names nothing (quantize.calibration).
CALIBRATION = ("words",)


def calibration_samples(recipe, frozen, cut) -> list:
    """Calibration inputs for INT8: the annotation files given in quantize.calibration (the user's own
    word images, best), and for "words" rendered random strings of the model's charset, none of them a
    validation word. Made through the graph like validation inputs, so the IR sees what it will see."""
    import dataclasses

    from ovconvert.families import words
    from ovconvert.families.aocr_legacy import samples_through_graph

    count = recipe.validate.count  # the quantize stage passes quantize.* as validate.images/count
    files = tuple(source for source in recipe.validate.images if source != "words")
    images = sample_images(dataclasses.replace(recipe, validate=dataclasses.replace(recipe.validate, images=files))) \
        if files else []
    if "words" in recipe.validate.images:
        rng = np.random.default_rng(1234)
        alphabet = sorted({c for c in _charset(recipe.validate.args["config"]) if c.isalnum()})
        while len(images) < count:
            text = "".join(rng.choice(alphabet, size=int(rng.integers(2, 13))))
            height = int(rng.choice((32, 40, 48, 64)))
            images.append((f"calibration-{len(images)}", words.png_bytes(words.render(text, height)), text))
    return samples_through_graph(frozen.path, cut, STRING_INPUT, images[:count])


def serving_metadata(recipe, cut, described: dict) -> dict:
    """What a client of the IR needs (ovconvert/predict.py): aocr's own preprocessing at the IR's width
    and channels (with blank margins trimmed first where the model's config asks: aocr/data.py), and
    the charset that turns step ids into text."""
    _, height, width, channels = cut.inputs[0].shape
    config = _model_config(recipe.validate.args["config"])
    return described | {"input": {"name": cut.inputs[0].node, "preprocessing": "aocr", "layout": "NHWC", "height": height,
                      "width": width, "channels": channels,
                      # a config.json without the key predates trimming (aocr/config.py)
                      "trim_margins": bool(config.get("trim_margins", False))},
            "charset": config["charset"],
            "outputs": {"step_ids": "character ids: 0 PAD, 1 GO, 2 EOS, then the charset from id 3"}}
