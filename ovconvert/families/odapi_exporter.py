"""Export an untrained TF1 Object Detection API model with the API's own exporter.

Runs in its own process inside the builder environment that `odapi_environment` makes (the
tf-models-research-object-detection sdist and its few extra packages beside this project's TensorFlow),
never in ovconvert's process: the API needs the pure-Python protobuf and tf_keras (Keras 2), which must
be chosen before TensorFlow is first imported.

    python -m ovconvert.families.odapi_exporter PIPELINE_CONFIG OUT_DIR [--seed N]

writes what the API's export_inference_graph.py writes for a trained model — frozen_inference_graph.pb,
pipeline.config, model.ckpt.*, saved_model/ — for a model built by model_builder from PIPELINE_CONFIG
with seeded random weights, rescaled so that it gives different, confident answers on different photos.

Each shim below gets past one obstacle measured in ../shared/notes/odapi-from-pypi.md; they touch only
this process.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import types
from pathlib import Path


def install_shims() -> None:
    os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"  # the sdist's *_pb2.py predate protobuf 4
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # the API uses tf.keras.layers.experimental (gone in Keras 3)
    import numpy as np

    for alias, kind in (("int", int), ("float", float), ("bool", bool), ("object", object)):
        if alias not in np.__dict__:  # nets/mobilenet/mobilenet_v3.py still says np.int
            setattr(np, alias, kind)
    import tensorflow as tf

    from ovconvert.families import tf_slim_compat

    tf_slim_compat.install()
    # TensorFlow 1 behaviour, not just graph mode: TF1 control flow (Enter/Merge/Switch/Exit, as in every
    # graph a TF1 exporter wrote; TF2's functional While ops match none of mo's Object Detection API
    # replacements) and reference variables.
    tf.compat.v1.disable_v2_behavior()
    # bipartite_matcher imports tensorflow.contrib (training only, and gone since TF 2.0): an empty module.
    for name in ("tensorflow.contrib", "tensorflow.contrib.image", "tensorflow.contrib.image.python",
                 "tensorflow.contrib.image.python.ops", "tensorflow.contrib.image.python.ops.image_ops"):
        sys.modules.setdefault(name, types.ModuleType(name))
    # tf-models-official 2.17 moved efficientnet out of official.vision.image_classification.
    try:
        importlib.import_module("official.vision.image_classification.efficientnet")
    except ImportError:
        legacy = importlib.import_module("official.legacy.image_classification")
        sys.modules["official.vision.image_classification"] = legacy
        sys.modules["official.vision.image_classification.efficientnet"] = importlib.import_module(
            "official.legacy.image_classification.efficientnet")
    # The TF1 feature extractors register only when the API believes it runs on TensorFlow 1.
    from object_detection.utils import tf_version

    tf_version.is_tf1 = lambda: True
    tf_version.is_tf2 = lambda: False


def export(config_path: Path, out_dir: Path, seed: int) -> None:
    import numpy as np
    import tensorflow as tf
    from google.protobuf import text_format
    from object_detection import exporter
    from object_detection.builders import model_builder
    from object_detection.protos import pipeline_pb2

    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(config_path.read_text(encoding="utf-8"), config)
    checkpoint_dir = out_dir / "training"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(seed)
        model = model_builder.build(config.model, is_training=False)
        images = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="calibration_images")
        preprocessed, true_shapes = model.preprocess(images)
        model.predict(preprocessed, true_shapes)
        tf.compat.v1.train.get_or_create_global_step()  # the exporter restores it
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            rescale_for_signal(session, images, np.random.default_rng(seed))
            prefix = tf.compat.v1.train.Saver().save(session, str(checkpoint_dir / "model.ckpt"))
    exporter.profile_inference_graph = lambda graph: None  # uses tfprof from tf.contrib
    with tf.Graph().as_default():
        exporter.export_inference_graph("image_tensor", config, prefix, str(out_dir))


def rescale_for_signal(session, images, rng) -> None:
    """Give an untrained detector answers that differ from photo to photo, with a few confident boxes
    (on calibration_photos):
    He-scaled weights and batch norms set to the statistics their inputs really have, as
    families/slim.py does for untrained classifiers, then the prediction heads scaled and biased
    (calibrate_heads). The API's own initialisers are meant for training: untrained, every photo gets the
    same flat scores (or, He-scaled, a score of 1 on every anchor), and validation could not catch a
    wrong size, mean or channel order, or a box decoded wrongly."""
    import numpy as np
    import tensorflow as tf

    variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
    for name, variable in variables.items():
        shape = variable.shape.as_list()
        if name.endswith(("weights", "kernel")) and len(shape) >= 2:
            # A depthwise kernel [h, w, channels, 1] sees h·w inputs per output, not h·w·channels.
            fan_in = int(np.prod(shape[:2] if name.endswith("depthwise_weights") else shape[:-1]))
            variable.load(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32), session)
        elif name.endswith("beta"):
            variable.load(rng.normal(0.0, 0.1, shape).astype(np.float32), session)
    feed = {images: calibration_photos()}
    for op in session.graph.get_operations():
        if not op.type.startswith("FusedBatchNorm"):
            continue
        # The op's name scope is not its variables' scope (MobilenetV1/MobilenetV1/… against
        # MobilenetV1/…): follow its mean and variance inputs back to the variables they read.
        mean, variance = (variables.get(_variable_name(op.inputs[i])) for i in (3, 4))
        if mean is None or variance is None:
            continue
        values = session.run(op.inputs[0], feed)
        axes = tuple(range(values.ndim - 1))
        mean.load(values.mean(axis=axes).astype(np.float32), session)
        variance.load((values.var(axis=axes) + 1e-3).astype(np.float32), session)
    calibrate_heads(session, variables, feed)


def calibration_photos(count: int = 16, size: int = 320):
    """Random crops of scikit-image's sample photos (the calibration inputs `--quantize` uses too):
    noise images, even with a photo's 1/f spectrum, leave the heads' logits at about half the spread
    that photos give them, and every score at 1 on photos."""
    import numpy as np
    from PIL import Image

    from ovconvert.families.images import load_images

    return np.stack([np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))
                     for _, rgb in load_images(("crops:skimage",), count)]).astype(np.float32)


# Per class head, the share of its logits that come out positive (a score above 0.5 after a sigmoid)
# on the calibration images: a handful of confident boxes per image, not a flood of ties at the top-100
# cut. For softmax heads, the share of rows where a foreground class beats the background.
SIGMOID_POSITIVE_SHARE = 2e-4
SOFTMAX_FOREGROUND_SHARE = 0.02
CLASS_LOGIT_STD = 3.0  # scores spread between near 0 and near 1, few ties
BOX_CODE_STD = 1.0  # box encodings of about one anchor's scale: boxes that move, but stay boxes


def calibrate_heads(session, variables, feed) -> None:
    """Scale each prediction head's kernel so its outputs have a set spread, and bias it: box encodings
    around 0; sigmoid class logits (SSD) mostly negative, a few above 0; softmax class logits (the two
    stages of Faster R-CNN, R-FCN and Mask R-CNN) with the background column ahead by the margin that
    leaves a few foreground winners. A head shared by every feature map (SSD FPN/PPN's weight-shared
    predictor) is one kernel applied several times: it is judged on all its outputs together."""
    import numpy as np

    heads: dict = {}
    for op in session.graph.get_operations():
        if op.type != "BiasAdd" or op.inputs[0].op.type not in ("Conv2D", "MatMul"):
            continue
        bias = variables.get(_variable_name(op.inputs[1]))
        kernel = variables.get(_variable_name(op.inputs[0].op.inputs[1]))
        if bias is not None and kernel is not None and \
                any(kind in bias.op.name for kind in ("ClassPredictor", "BoxEncodingPredictor")):
            heads.setdefault((bias.op.name, kernel.op.name), (bias, kernel, []))[2].append(op.inputs[0])
    for (head, _), (bias, kernel, products) in heads.items():
        values = np.concatenate([value.reshape(-1, value.shape[-1]) for value in session.run(products, feed)])
        channels = values.shape[-1]
        if "BoxEncodingPredictor" in head:
            scale = BOX_CODE_STD / max(float(values.std()), 1e-6)
            shift = -values.mean(axis=0) * scale
        else:
            scale = CLASS_LOGIT_STD / max(float(values.std()), 1e-6)
            values = values * scale
            if "FirstStage" in head or "SecondStage" in head:  # softmax; column 0 is the background
                shift = np.zeros(channels)
                shift[0] = np.quantile(values[:, 1:].max(axis=1) - values[:, 0], 1.0 - SOFTMAX_FOREGROUND_SHARE)
            else:
                shift = np.full(channels, -np.quantile(values, 1.0 - SIGMOID_POSITIVE_SHARE))
        kernel.load((session.run(kernel) * scale).astype(np.float32), session)
        bias.load(shift.astype(np.float32), session)


def _variable_name(tensor) -> str:
    op = tensor.op
    while op.type in ("Identity", "ReadVariableOp") and op.inputs:
        op = op.inputs[0].op
    return op.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline_config", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    install_shims()
    export(args.pipeline_config, args.out_dir, args.seed)


if __name__ == "__main__":
    main()
