"""`ovconvert aocr export`: a SavedModel for TensorFlow Serving, or a frozen graph for OpenVINO.

Both take encoded image bytes (`input`, a string scalar or batch) and do the whole job in the graph:
decode and preprocess each image, run the network, decode the text. The frozen graph names its cut
points for OpenVINO:

    input                [N] string          encoded image files
    preprocessed_image   [N,32,W,C] float    ← cut here: the IR's input
    step_ids             [N,S] int32         ← the IR's outputs: the character id at each decode step
    step_probabilities   [N,S] float         ←   and its probability
    step_distributions   [N,S,C] float       ←   and every character's (for aocr/spelling.py)
    output / probability / char_probabilities   the text, as the SavedModel signature returns it

The SavedModel goes into a numbered version directory (EXPORT_DIR/1/, the next number if one exists),
which TensorFlow Serving loads as it is. Everything is written to a temporary directory first and
renamed into place, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import logging
import posixpath

import tensorflow as tf

from ovconvert.aocr import config as config_io
from ovconvert.aocr import data, inference
from ovconvert.aocr.config import IMAGE_HEIGHT
from ovconvert.aocr.model import unrolled_encoder

log = logging.getLogger("ovconvert.aocr")

FROZEN_GRAPH = "frozen_graph.pb"
CUT_INPUT = "preprocessed_image"
CUT_OUTPUTS = ("step_ids", "step_probabilities", "step_distributions")


class Reader(tf.Module):
    """The serving function: image bytes → text, probability, per-character probabilities."""

    def __init__(self, model, config, canvas_width: int | None = None):
        super().__init__()
        self.model = model
        self.config = config
        # a canvas narrower than the model's width (aocr/canvas.py): every image read on its first columns
        self.canvas_width = canvas_width

    def read(self, images, distributions: bool = False):
        """The serving signature's outputs; with `distributions`, also the per-step distributions, which
        the frozen graph keeps for the IR (aocr/spelling.py) and the SavedModel's signature leaves out."""
        config = self.config
        flat = tf.reshape(images, [-1])
        pixels = tf.map_fn(lambda encoded: data.preprocess(encoded, config), flat,
                           fn_output_signature=tf.TensorSpec([IMAGE_HEIGHT, config.image_width, config.channels],
                                                             tf.float32))
        if self.canvas_width:
            pixels = pixels[:, :, :self.canvas_width]
        pixels = tf.identity(pixels, name=CUT_INPUT)
        ids, step_probabilities, _, step_distributions = inference.step_outputs(self.model, pixels)
        ids = tf.identity(ids, name=CUT_OUTPUTS[0])
        step_probabilities = tf.identity(step_probabilities, name=CUT_OUTPUTS[1])
        step_distributions = tf.identity(step_distributions, name=CUT_OUTPUTS[2])
        text, probability, char_probabilities = inference.text_outputs(ids, step_probabilities, config)
        shape = tf.shape(images)
        outputs = {
            "output": tf.identity(tf.reshape(text, shape), name="output"),
            "probability": tf.identity(tf.reshape(probability, shape), name="probability"),
            "char_probabilities": tf.identity(
                tf.reshape(char_probabilities, tf.concat([shape, [config.decode_steps]], 0)), name="char_probabilities"),
        }
        if distributions:
            outputs[CUT_OUTPUTS[2]] = step_distributions
        return outputs

    @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name="input")])
    def serve(self, input):  # noqa: A002 — the signature's input is called `input`, as in aocr
        return self.read(input)


def _next_version(export_dir: str) -> int:
    versions = [int(name.rstrip("/")) for name in (tf.io.gfile.listdir(export_dir) if tf.io.gfile.isdir(export_dir)
                                                    else []) if name.rstrip("/").isdigit()]
    return max(versions, default=0) + 1


def _remove_quietly(path: str) -> None:
    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.rmtree(path)
    except tf.errors.NotFoundError:  # some filesystems (ram://) report a renamed directory as still there
        pass


def _publish(staging: str, target: str) -> None:
    """Move a finished export into place: an atomic rename on a local disk; elsewhere (gs://, where a
    directory rename is a copy anyway) a copy of every file, then the staging directory is removed."""
    if tf.io.gfile.exists(target):
        tf.io.gfile.rmtree(target)
    if "://" not in staging:
        tf.io.gfile.rename(staging, target)
        return
    for directory, _, files in tf.io.gfile.walk(staging):
        relative = directory[len(staging):].lstrip("/")
        destination = posixpath.join(target, relative) if relative else target
        tf.io.gfile.makedirs(destination)
        for name in files:
            source = posixpath.join(directory, name)
            if not tf.io.gfile.exists(source):  # ram:// lists "assets.extra/x" under "assets" as ".extra"
                continue
            tf.io.gfile.copy(source, posixpath.join(destination, name), overwrite=True)
    _remove_quietly(staging)


def export_saved_model(trained, export_dir: str, version: int | None = None) -> str:
    version = version or _next_version(export_dir)
    target = posixpath.join(export_dir, str(version))
    staging = posixpath.join(export_dir, f".{version}.partial")
    tf.io.gfile.makedirs(export_dir)
    reader = Reader(trained.model, trained.config)
    try:
        with unrolled_encoder(trained.model):  # saving traces the function
            tf.saved_model.save(reader, staging, signatures={"serving_default": reader.serve.get_concrete_function()})
        config_io.save(trained.config, posixpath.join(staging, "assets.extra"))
        _publish(staging, target)
    finally:
        _remove_quietly(staging)
    log.info("SavedModel (tag serve, signature serving_default) written to %s", target)
    return target


def frozen_graph_def(trained, canvas_width: int | None = None) -> tf.compat.v1.GraphDef:
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    reader = Reader(trained.model, trained.config, canvas_width)
    with unrolled_encoder(trained.model):
        function = tf.function(lambda input: reader.read(input, distributions=True)).get_concrete_function(  # noqa: A006
            tf.TensorSpec([None], tf.string, name="input"))
    # NOTE: lower_control_flow=False keeps the per-image decoding loop (tf.map_fn) as one functional While
    # op; lowering it adds dozens of `unused_control_flow_input` placeholders that look like model inputs.
    # The cut drops the loop anyway: OpenVINO never sees it.
    frozen = convert_variables_to_constants_v2(function, lower_control_flow=False)
    return frozen.graph.as_graph_def()


def export_frozen_graph(trained, export_dir: str, canvas_width: int | None = None) -> str:
    """EXPORT_DIR/frozen_graph.pb and, beside it, config.json (the charset decodes `step_ids`); with
    `canvas_width`, the graph reads each image on that canvas (aocr/canvas.py: the IRs of
    `--engine openvino` for a model with canvas widths)."""
    tf.io.gfile.makedirs(export_dir)
    graph_def = frozen_graph_def(trained, canvas_width)
    target = posixpath.join(export_dir, FROZEN_GRAPH)
    with tf.io.gfile.GFile(target + ".partial", "wb") as handle:
        handle.write(graph_def.SerializeToString())
    tf.io.gfile.rename(target + ".partial", target, overwrite=True)
    config_io.save(trained.config, export_dir)
    log.info("frozen graph written to %s (%d nodes): cut at %s:0, outputs %s", target, len(graph_def.node),
             CUT_INPUT, ", ".join(CUT_OUTPUTS))
    return target
