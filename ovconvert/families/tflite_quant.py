"""Quantized TFLite image classifiers (the TF-hosted `*_quant.tgz` archives), and their frozen .pb twins.

Each TF-hosted archive holds a uint8 `.tflite` and the fake-quantized float `_frozen.pb` it was made
from. A recipe converts the `.tflite` as it is (validated against the TFLite interpreter) and, as its
`pb` variant, the `.pb` with `--input input --input_shape [1,H,W,3]` as OpenVINO's guide says (validated
against TensorFlow, through slim's inception preprocessing, which is what these MobileNets and
Inceptions were trained with).

What each side gets for a `.tflite`: the photo centrally cropped and resized (slim's evaluation
geometry), then in the model's input type — uint8 inputs take the pixels themselves (their quantization,
scale 1/128 zero point 128, *is* the [-1, 1] normalization); int8 inputs take pixel − 128 (the same
normalization shifted to int8's range); float inputs take the inception normalization. The IR gets the
identical array: the `.tflite` IR keeps the model's input type and embeds no preprocessing.
"""

from __future__ import annotations

import numpy as np

from ovconvert.families import slim
from ovconvert.families.images import load_images
from ovconvert.families.quantized_classifier import SOURCE_BUILDERS  # noqa: F401  (the family's builders)
from ovconvert.graph.tflite import is_tflite, summarize_tflite

CODE_PATHS = ("ovconvert/families/quantized_classifier.py", "ovconvert/graph/tflite.py")
TF2_INT8_ISSUE = "openvinotoolkit/openvino#24045"


def model_input(pixels: np.ndarray, dtype: str) -> np.ndarray:
    """0-255 RGB pixels (float) → what a quantized classifier's input of this type takes."""
    if dtype == "uint8":
        return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    if dtype == "int8":
        return (np.clip(np.round(pixels), 0, 255) - 128).astype(np.int8)
    return slim.normalize(pixels, "inception").astype(np.float32)


def validation_samples(recipe, frozen, cut) -> list:
    if not is_tflite(frozen.path):
        return slim.validation_samples(recipe, frozen, cut)  # the frozen .pb twin: TensorFlow vs the IR
    from ovconvert.stages.validate import Sample

    spec = recipe.validate
    first = cut.inputs[0]
    size = tuple(spec.image_size) if spec.image_size else (first.shape[1], first.shape[2])
    samples = []
    for name, rgb in load_images(spec.images, spec.count):
        array = model_input(slim.geometry(rgb, "inception", size), first.dtype)[None]
        samples.append(Sample(name, {first.node: array}, [array]))
    return samples


def explain_failure(recipe, frozen, result) -> str | None:
    """Name the known OpenVINO 2024.6 defect when the failing model is the kind it affects."""
    if not is_tflite(frozen.path) or not summarize_tflite(frozen.path, check_unsupported=False).per_channel_int8:
        return None
    return (f"this is a full-integer int8 TFLite model (int8 per-channel weights, as TF2's TFLiteConverter "
            f"writes), which OpenVINO 2024.6 converts wrongly ({TF2_INT8_ISSUE}, fixed in OpenVINO 2025): "
            "convert the float SavedModel/.pb instead, or convert this .tflite with OpenVINO 2025 or later")
