"""The reference client of a converted model: an IR and input files in, answers out — class names with
scores, boxes, words — using nothing but OpenVINO, NumPy and Pillow.

What the IR expects and what its outputs mean travel inside it: the run stores them in the IR's
rt_info under "ovconvert" (stages/deploy.py), so this module needs neither the recipe nor TensorFlow.
It is what a client of OpenVINO Model Server does with a model ovconvert deployed, and what
`ovconvert predict` runs.

Input kinds (metadata "input.preprocessing"):
- "pixels": the image cropped as the model's evaluation preprocessing crops, resized to the IR's height
  × width as validation resized it ("resize": TensorFlow's or Pillow's bilinear), as raw 0-255 values in
  the channel order the IR was validated with; mean/scale are inside the IR (mo's --mean_values/--scale).
- "aocr": the attention-OCR model's own preprocessing (aocr/data.py's `preprocess`, in NumPy):
  transparency flattened onto a background that contrasts with the ink, grey, blank margins trimmed
  where the IR's metadata says "trim_margins", height 32 keeping the aspect ratio (shrunk to fit the
  width), standardized, zero-padded on the right. The step ids become text as `aocr predict
  --reread-below 0` makes it, English spelling choosing among doubtful letters (aocr/spelling.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from ovconvert.aocr.config import BLANK_SPAN, MARGIN_IN_INK_HEIGHTS  # no TensorFlow at import
from ovconvert.errors import UserError
from ovconvert.families.images import upright

RT_INFO_KEY = "ovconvert"
# aocr's ids: 0 PAD, 1 GO, 2 EOS, then the charset (aocr/charset.py).
AOCR_EOS, AOCR_SPECIAL_TOKENS = 2, 3


def read_metadata(model) -> dict:
    """The metadata a run stored in the IR, or a UserError naming the fix."""
    try:
        return json.loads(model.get_rt_info([RT_INFO_KEY, "metadata"]).astype(str))
    except (RuntimeError, ValueError):
        raise UserError("the IR carries no ovconvert metadata (task, input, labels); use an IR written by "
                        "`ovconvert run` (ir/, ir-int8/ or the --ovms-repo copy)") from None


# --------------------------------------------------------------------------------------------- inputs


def load_image(path: Path) -> Image.Image:
    """The file as RGB, or as RGBA where it carries transparency (an alpha channel, or a palette's or a
    PNG's transparent colour): an OCR input flattens that as the model's graph does (flatten_alpha). A
    photo a camera stored turned (its EXIF orientation) is turned upright, as viewers show it, so that
    boxes come back in the coordinates the user sees."""
    try:
        with Image.open(path) as image:
            image.load()
            return upright(image).convert("RGBA" if image.has_transparency_data else "RGB")
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable image ({error}); give an image file (PNG, JPEG, GIF, BMP, TIFF, "
                        "WebP)") from None


def pixels(image: Image.Image, spec: dict) -> np.ndarray:
    """[1, H, W, C] raw pixel values for an IR whose mean/scale are inside it, cropped first as the model's
    evaluation preprocessing crops (Slim's: a central 87.5%, or VGG's shorter side to 256 and the centre)."""
    image = image.convert("RGB")  # transparency dropped, as the framework's RGB decoding drops it
    width, height = image.size
    if spec.get("crop") == "central":  # tf.image.central_crop's arithmetic
        top = int((height - height * spec["central_fraction"]) / 2)
        left = int((width - width * spec["central_fraction"]) / 2)
        image = image.crop((left, top, width - left, height - top))
    elif spec.get("crop") == "shorter_side_then_centre":
        scale = spec["resize_side"] / min(width, height)
        size = (max(spec["width"], round(width * scale)), max(spec["height"], round(height * scale)))
        image = image.resize(size, Image.BILINEAR)
        left, top = (size[0] - spec["width"]) // 2, (size[1] - spec["height"]) // 2
        image = image.crop((left, top, left + spec["width"], top + spec["height"]))
    if spec.get("resize") == "tf_bilinear":
        resized = tf_bilinear(np.asarray(image, dtype=np.float32), spec["height"], spec["width"])
    else:
        resized = np.asarray(image.resize((spec["width"], spec["height"]), Image.BILINEAR), dtype=np.float32)
    order = spec.get("channel_order", "RGB")
    if order == "BGR":
        resized = resized[..., ::-1]
    elif order == "GRAY":
        resized = (resized @ np.array([0.2989, 0.587, 0.114], dtype=np.float32))[..., None]
    return np.ascontiguousarray(resized[None])


def tf_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """tf.image.resize(method="bilinear") without antialiasing, in NumPy: half-pixel centres, each output
    pixel from its 4 nearest inputs. Pillow's bilinear averages over the whole footprint when it
    shrinks, which is a different picture to a network validated on TensorFlow's."""
    def axis(out_size: int, in_size: int):
        centre = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
        low = np.clip(np.floor(centre).astype(int), 0, in_size - 1)
        high = np.clip(low + 1, 0, in_size - 1)
        weight = np.clip(centre - low, 0.0, 1.0).astype(np.float32)
        return low, high, weight

    top, bottom, wy = axis(height, image.shape[0])
    left, right, wx = axis(width, image.shape[1])
    rows = image[top] * (1 - wy)[:, None, None] + image[bottom] * wy[:, None, None]
    return rows[:, left] * (1 - wx)[None, :, None] + rows[:, right] * wx[None, :, None]


def aocr_pixels(image: Image.Image, spec: dict) -> np.ndarray:
    """[1, 32, W, C]: aocr/data.py's `preprocess` in NumPy and Pillow (grey weights and the standardization
    are TensorFlow's; Pillow's bilinear resize antialiases when it shrinks, as tf.image.resize does with
    antialias=True)."""
    height, width, channels = spec["height"], spec["width"], spec["channels"]
    rgb = np.asarray(image, dtype=np.float32)
    if rgb.shape[-1] == 4:
        rgb = flatten_alpha(rgb)
    planes = [rgb @ np.array([0.2989, 0.587, 0.114], dtype=np.float32)] if channels == 1 \
        else [rgb[..., i] for i in range(3)]
    if spec.get("trim_margins"):
        planes = trim_blank_margins(planes)
    new_width = int(min(max(round(planes[0].shape[1] * height / planes[0].shape[0]), 1), width))
    resized = np.stack([np.asarray(Image.fromarray(plane, mode="F").resize((new_width, height), Image.BILINEAR))
                        for plane in planes], axis=-1)
    standardized = (resized - resized.mean()) / max(float(resized.std()), 1.0)
    padded = np.zeros((height, width, channels), dtype=np.float32)
    padded[:, :new_width] = standardized
    return padded[None]


def flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """aocr/data.py's flatten_alpha on [H, W, 4] pixels → [H, W, 3]: transparency flattened onto white
    behind dark ink or black behind light ink (transparent pixels are often black, and black text on them
    would otherwise read as nothing); an alpha that is 0 everywhere is no transparency."""
    colour, alpha = rgba[..., :3], rgba[..., 3:] / 255.0
    if not alpha.any():
        alpha = np.ones_like(alpha)
    ink = (colour * alpha).sum(axis=(0, 1)) / max(float(alpha.sum()), 1e-6)
    background = 255.0 if float(ink @ np.array([0.299, 0.587, 0.114])) < 128.0 else 0.0
    return colour * alpha + background * (1.0 - alpha)


def trim_blank_margins(planes: list[np.ndarray]) -> list[np.ndarray]:
    """aocr/data.py's trim_blank_margins on [H, W] planes: blank margins cut to the ink's height."""
    stack = np.stack(planes, axis=-1)

    def extent(axis: int) -> tuple[int, int]:
        ink = (stack.max(axis=axis) - stack.min(axis=axis)).max(axis=-1) > BLANK_SPAN
        if not ink.any():
            return 0, ink.size
        return int(np.argmax(ink)), int(ink.size - np.argmax(ink[::-1]))

    top, bottom = extent(1)
    left, right = extent(0)
    margin = int(np.ceil(MARGIN_IN_INK_HEIGHTS * (bottom - top)))
    rows = slice(max(top - margin, 0), min(bottom + margin, stack.shape[0]))
    columns = slice(max(left - margin, 0), min(right + margin, stack.shape[1]))
    return [plane[rows, columns] for plane in planes]


def model_input(image: Image.Image, metadata: dict, element_type: str = "f32") -> np.ndarray:
    spec = metadata["input"]
    kind = spec.get("preprocessing", "pixels")
    if kind == "aocr":
        array = aocr_pixels(image, spec)
    elif kind == "pixels":
        array = pixels(image, spec)
    else:
        raise UserError(f"the IR's input preprocessing {kind!r} is not one this client knows; update ovconvert")
    if element_type in ("u8", "i8"):
        array = np.clip(np.round(array), 0 if element_type == "u8" else -128, 255 if element_type == "u8" else 127)
        return array.astype(np.uint8 if element_type == "u8" else np.int8)
    return array.astype(np.float32)


# -------------------------------------------------------------------------------------------- outputs


def complete_feed(model, feed: list):
    """`feed` for `model`, with the `image_info` input [1,3] (image height, width, scale) that mo's
    Object Detection API conversions of Faster R-CNN, R-FCN and Mask R-CNN add for their Proposal
    layer, and that Open Model Zoo's demos feed; the feed (one array per framework input) has no such
    input. Unchanged when the model has no input left over."""
    if len(model.inputs) <= len(feed):
        return feed
    arrays, named = iter(feed), {}
    for index, port in enumerate(model.inputs):
        if "image_info" not in port.get_names():
            named[index] = next(arrays)
    image = next(iter(named.values()))
    for index, port in enumerate(model.inputs):
        if "image_info" in port.get_names():
            named[index] = np.array([[image.shape[1], image.shape[2], 1.0]], dtype=np.float32)
    return named


def detections(values, threshold: float) -> list[tuple[int, float, np.ndarray]]:
    """(class, score, box) above the threshold, boxes as [ymin, xmin, ymax, xmax], normalized. Two formats:
    the Object Detection API's outputs (boxes [1,N,4], scores [1,N], classes [1,N], num_detections [1]);
    or OpenVINO's DetectionOutput [1,1,N,7] rows of (image, label, score, xmin, ymin, xmax, ymax), ended
    by an image id of -1 — its labels count the background as 0, as the Object Detection API's classes
    do (they start at 1)."""
    detection_output = next((np.asarray(v) for v in values if np.ndim(v) == 4 and np.shape(v)[-1] == 7), None)
    if detection_output is not None:  # (Mask R-CNN's IR gives the masks besides)
        rows = detection_output.reshape(-1, 7)
        rows = rows[:np.argmax(rows[:, 0] < 0)] if (rows[:, 0] < 0).any() else rows
        return [(int(row[1]), float(row[2]), row[[4, 3, 6, 5]]) for row in rows if row[2] >= threshold]
    boxes, scores, classes, count = (np.asarray(v) for v in values[:4])
    count = int(np.asarray(count).reshape(-1)[0])
    return [(int(classes.reshape(-1)[i]), float(scores.reshape(-1)[i]), boxes.reshape(-1, 4)[i])
            for i in range(count) if scores.reshape(-1)[i] >= threshold]


def aocr_text(ids, charset: str) -> str:
    """Step ids → the characters before the first EOS."""
    ids = np.asarray(ids).reshape(-1)
    ends = np.flatnonzero(ids == AOCR_EOS)
    stop = int(ends[0]) if ends.size else len(ids)
    return "".join(charset[i - AOCR_SPECIAL_TOKENS] for i in ids[:stop] if i >= AOCR_SPECIAL_TOKENS)


@dataclass
class Answer:
    input: str
    task: str
    text: Optional[str] = None  # ocr
    classes: Optional[list] = None  # classification: [(id, label, score)], best first
    boxes: Optional[list] = None  # detection: [(id, label, score, [ymin, xmin, ymax, xmax])]

    def line(self) -> str:
        if self.task == "ocr":
            return f"{self.input}\t{self.text}"
        if self.task == "classification":
            return f"{self.input}\t" + ", ".join(f"{label or cid} {score:.3f}" for cid, label, score in self.classes)
        return f"{self.input}\t{len(self.boxes)} box(es)" + "".join(
            f"; {label or cid} {score:.2f} [{', '.join(f'{v:.3f}' for v in box)}]" for cid, label, score, box in self.boxes)

    def to_json(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def _fix_batch_to_one(model) -> None:
    """One file at a time: an IR converted with any batch gets batch 1, when that is all that is dynamic.
    The CPU plugin runs static shapes faster (the aocr IR 2.7x at batch 1)."""
    if len(model.inputs) != 1:
        return
    shape = model.inputs[0].get_partial_shape()
    if shape.rank.is_static and len(shape) > 1 and shape[0].is_dynamic and \
            all(dimension.is_static for dimension in list(shape)[1:]):
        model.reshape({model.inputs[0].get_any_name(): [1, *(dimension.get_length() for dimension in list(shape)[1:])]})


class Predictor:
    """An IR compiled once (f32 pinned: the precision it was validated at), answering input files."""

    def __init__(self, xml: Path, device: str = "CPU", top_k: int = 5, score_threshold: Optional[float] = None):
        import openvino as ov

        if not Path(xml).is_file():
            raise UserError(f"{xml}: no such IR; give the .xml of an `ovconvert run` (ir/NAME.xml)")
        if Path(xml).suffix.lower() != ".xml":  # (OpenVINO would try every frontend on it, and log their errors)
            raise UserError(f"{xml}: not an IR; give the .xml of an `ovconvert run` (ir/NAME.xml) first, "
                            "then the images")
        core = ov.Core()
        try:
            model = core.read_model(str(xml))
        except RuntimeError as error:  # not an IR, or its .bin missing or cut short
            reason = next((line.strip() for line in str(error).splitlines()
                           if line.strip() and not line.startswith("Exception from")), "unreadable")
            raise UserError(f"{xml}: OpenVINO cannot read it as an IR ({reason}); give the .xml of an "
                            "`ovconvert run` (ir/NAME.xml), with its .bin beside it") from None
        self.metadata = read_metadata(model)
        self.element_type = model.inputs[0].get_element_type().get_type_name()
        _fix_batch_to_one(model)
        self.compiled = core.compile_model(model, device, {"INFERENCE_PRECISION_HINT": "f32"})
        self.request = self.compiled.create_infer_request()
        self.top_k = top_k
        self.threshold = score_threshold if score_threshold is not None else self.metadata.get("score_threshold", 0.5)
        # an aocr IR made since the spelling prior has each step's distribution: its words are spelt as
        # `aocr predict --reread-below 0` spells them (aocr/spelling.py)
        self.distributions = next((i for i, output in enumerate(self.compiled.outputs)
                                   if output.get_names() & {"step_distributions", "step_distributions:0"}), None)
        if self.metadata["task"] == "ocr" and self.distributions is not None:
            from ovconvert.aocr.charset import Charset
            from ovconvert.aocr.spelling import Speller

            self.speller = Speller(Charset(self.metadata["charset"]))

    def __call__(self, path: Path) -> Answer:
        task, labels = self.metadata["task"], self.metadata.get("labels") or []
        self.request.infer(complete_feed(self.compiled, [model_input(load_image(path), self.metadata,
                                                                     self.element_type)]))
        values = [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]
        if task == "ocr":
            text = aocr_text(values[0], self.metadata["charset"])
            if self.distributions is not None:  # (the probability is not reported here; the speller only scales it)
                ids = np.asarray(values[0]).reshape(-1)
                text = self.speller(text, 1.0, ids, np.asarray(values[self.distributions]).reshape(len(ids), -1))[0]
            return Answer(str(path), task, text=text)
        if task == "classification":
            scores = np.asarray(values[0], dtype=np.float64).reshape(-1)
            best = np.argsort(-scores)[:self.top_k]
            return Answer(str(path), task, classes=[(int(i), _label(labels, int(i)), float(scores[i])) for i in best])
        found = detections(values, self.threshold)
        return Answer(str(path), task, boxes=[(cid, _label(labels, cid), score, [float(v) for v in box])
                                              for cid, score, box in found])



def _label(labels: list, index: int) -> str:
    return labels[index] if 0 <= index < len(labels) else ""
