"""A small quantized photo classifier made offline, in the two ways quantized TFLite models come about.

The TF-hosted quantized models cannot be downloaded in tests, and a random-weight network is no good for
checking top-1 agreement (its scores barely differ, so its top-1 is noise or a constant class). So a
MobileNet-shaped network (conv, depthwise/pointwise pairs, average pool, 1×1 logits) is trained for a few
seconds to tell the 26 scikit-image photos apart; then it is exported

* the TF1 way, as the TF-hosted `*_quant.tgz` archives were made: a float graph with FakeQuant ops
  (`<stem>_frozen.pb`) and TFLiteConverter's uint8 conversion of it (`<stem>.tflite`, per-tensor
  scales, input quantized as mean 128 / std 128), packed in one .tgz — builder `photo_classifier_archive`;
* the TF2 way: Keras → TFLiteConverter with full-integer int8 post-training quantization (per-channel
  weights, int8 input and output) — `tf2_int8_tflite`, the kind OpenVINO 2024.6 converts wrongly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ovconvert.families.images import load_images
from ovconvert.stages.acquire import pack_directory

CLASSES = 26  # one per scikit-image sample photo
TRAIN_EPOCHS = 60


def training_photos(size: int) -> np.ndarray:
    """The 26 photos, cropped and resized as slim's evaluation does, as 0-255 float RGB [26, size, size, 3]."""
    from ovconvert.families.slim import geometry

    return np.stack([geometry(rgb, "inception", (size, size)) for _, rgb in load_images(("skimage",), CLASSES)])


def train_keras_classifier(size: int, seed: int):
    """A Keras model from [-1, 1] RGB to 26 logits that tells the photos apart (augmented, seeded)."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu6", name="conv0")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw1")(x)
    x = layers.Conv2D(32, 1, activation="relu6", name="pw1")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6", name="dw2")(x)
    x = layers.Conv2D(64, 1, activation="relu6", name="pw2")(x)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    logits = layers.Conv2D(CLASSES, 1, name="logits")(x)
    model = keras.Model(inputs, layers.Flatten()(logits))
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    photos = training_photos(size) / 127.5 - 1.0
    labels = np.arange(CLASSES)
    augment = keras.Sequential([layers.RandomFlip("horizontal", seed=seed),
                                layers.RandomTranslation(0.08, 0.08, seed=seed)])
    for _ in range(TRAIN_EPOCHS):
        batch = np.concatenate([photos, augment(photos, training=True).numpy()])
        model.fit(batch, np.concatenate([labels, labels]), batch_size=13, epochs=1, verbose=0)
    return model


# ------------------------------------------------------------------------------------ TF1: FakeQuant → uint8


def _fake_quant_graph(model, size: int, prefix: str = "TinyNet"):
    """The trained model as a TF1 float graph with FakeQuant ops, shaped like slim's MobileNet graphs:
    `input` → … → `<prefix>/Predictions/Reshape_1`. Activation ranges are relu6's [0, 6], except the
    pool and logits ranges, measured on the photos."""
    import keras
    import tensorflow as tf

    tf1 = tf.compat.v1
    photos = training_photos(size) / 127.5 - 1.0
    probe = keras.Model(model.inputs[0], [model.get_layer("pool").output, model.get_layer("logits").output])
    pooled, logits = (np.asarray(a) for a in probe.predict(photos, verbose=0))
    pool_max = float(pooled.max()) * 1.1
    logit_bound = float(np.abs(logits).max()) * 1.1
    # Read eagerly, before building the TF1 graph (variables cannot be read inside it).
    values = {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}

    def weights(name, layer):
        kernel = values[layer][0]
        return tf1.fake_quant_with_min_max_args(tf.constant(kernel), float(kernel.min()), float(kernel.max()),
                                                name=f"{name}/weights_quant")

    def bias_relu6(name, x, layer):
        x = tf.nn.bias_add(x, tf.constant(values[layer][1]), name=f"{name}/BiasAdd")
        return tf1.fake_quant_with_min_max_args(tf.nn.relu6(x, name=f"{name}/Relu6"), 0.0, 6.0,
                                                name=f"{name}/act_quant")

    graph = tf.Graph()
    with graph.as_default():
        image = tf1.placeholder(tf.float32, [1, size, size, 3], name="input")
        # mean 128 / std 128 (TFLiteConverter's quantized_input_stats): uint8 q means (q - 128) / 128.
        x = tf1.fake_quant_with_min_max_args(image, -1.0, 127.0 / 128.0, name=f"{prefix}/input_quant")
        x = bias_relu6(f"{prefix}/Conv2d_0", tf.nn.conv2d(x, weights(f"{prefix}/Conv2d_0", "conv0"), 2, "SAME"),
                       "conv0")
        x = bias_relu6(f"{prefix}/Conv2d_1_depthwise", tf.nn.depthwise_conv2d(
            x, weights(f"{prefix}/Conv2d_1_depthwise", "dw1"), [1, 1, 1, 1], "SAME"), "dw1")
        x = bias_relu6(f"{prefix}/Conv2d_1_pointwise", tf.nn.conv2d(
            x, weights(f"{prefix}/Conv2d_1_pointwise", "pw1"), 1, "SAME"), "pw1")
        x = bias_relu6(f"{prefix}/Conv2d_2_depthwise", tf.nn.depthwise_conv2d(
            x, weights(f"{prefix}/Conv2d_2_depthwise", "dw2"), [1, 2, 2, 1], "SAME"), "dw2")
        x = bias_relu6(f"{prefix}/Conv2d_2_pointwise", tf.nn.conv2d(
            x, weights(f"{prefix}/Conv2d_2_pointwise", "pw2"), 1, "SAME"), "pw2")
        side = int(x.shape[1])
        x = tf.nn.avg_pool2d(x, side, 1, "VALID", name=f"{prefix}/Logits/AvgPool_1a")
        x = tf1.fake_quant_with_min_max_args(x, 0.0, pool_max, name=f"{prefix}/Logits/AvgPool_quant")
        x = tf.nn.conv2d(x, weights(f"{prefix}/Logits/Conv2d_1c_1x1", "logits"), 1, "SAME")
        x = tf.nn.bias_add(x, tf.constant(values["logits"][1]),
                           name=f"{prefix}/Logits/Conv2d_1c_1x1/BiasAdd")
        x = tf1.fake_quant_with_min_max_args(x, -logit_bound, logit_bound, name=f"{prefix}/Logits/act_quant")
        x = tf.squeeze(x, [1, 2], name=f"{prefix}/Logits/SpatialSqueeze")
        x = tf.reshape(x, [-1, CLASSES], name=f"{prefix}/Predictions/Reshape")
        x = tf.nn.softmax(x, name=f"{prefix}/Predictions/Softmax")
        tf.reshape(x, [1, CLASSES], name=f"{prefix}/Predictions/Reshape_1")
    return graph.as_graph_def(), f"{prefix}/Predictions/Reshape_1"


def build_photo_classifier_archive(args: dict, out_dir: Path) -> Path:
    """`<stem>_frozen.pb` (FakeQuant float graph) and `<stem>.tflite` (uint8) in `archive`, laid out like
    the TF-hosted mobilenet_v1_*_quant.tgz archives."""
    import tensorflow as tf

    size, seed = int(args.get("image_size", 64)), int(args.get("seed", 0))
    stem = args.get("stem", "tiny_photo_classifier_quant")
    model = train_keras_classifier(size, seed)
    graph_def, output = _fake_quant_graph(model, size)
    staging = out_dir / "archive"
    staging.mkdir()
    frozen = staging / f"{stem}_frozen.pb"
    frozen.write_bytes(graph_def.SerializeToString())
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(frozen), ["input"], [output])
    converter.inference_type = tf.uint8
    converter.quantized_input_stats = {"input": (128.0, 128.0)}
    (staging / f"{stem}.tflite").write_bytes(converter.convert())
    (staging / f"{stem}_info.txt").write_text(
        f"Model: {stem}\nInput: input [1,{size},{size},3]\nOutput: {output}\n"
        f"Made by ovconvert: trained {TRAIN_EPOCHS} epochs to tell the 26 scikit-image photos apart (seed {seed}).\n")
    return pack_directory(staging, out_dir / args.get("archive", f"{stem}.tgz"))


# ---------------------------------------------------------------------------------- TF2: full-integer int8


def tf2_int8_tflite(path: Path, size: int = 64, seed: int = 0) -> Path:
    """The same classifier through TF2's converter with full-integer int8 quantization: a model that takes
    0-255 pixels (its first layer rescales them) as int8 (pixel − 128) and gives int8 scores."""
    import keras
    import tensorflow as tf

    trained = train_keras_classifier(size, seed)
    inputs = keras.Input((size, size, 3))
    model = keras.Model(inputs, trained(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)))
    photos = training_photos(size).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([photo[None]] for photo in photos)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


SOURCE_BUILDERS = {"photo_classifier_archive": build_photo_classifier_archive}
