"""The TF-Slim image classification family: network definitions, preprocessing, untrained archives.

Networks come from the tf_slim package where it has them (Inception v1-v3, ResNet v1/v2, VGG); the
others (Inception v4, Inception-ResNet v2, NasNet, MobileNet v1) are Python files of tensorflow/models
that the recipe fetches at run time from a pinned commit, as Open Model Zoo does — never vendored here.

Framework-side preprocessing is slim's own (preprocessing_factory): "inception" scales to [-1, 1] and
serves Inception, MobileNet, NasNet and ResNet v2; "vgg" subtracts the RGB ImageNet means and serves
VGG and ResNet v1. It is written out here independently of the recipe's mean/scale values, so a wrong
value in a recipe makes TensorFlow and the IR disagree and fails validation.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from ovconvert.errors import UserError
from ovconvert.families import tf_slim_compat
from ovconvert.families.images import load_images
from ovconvert.recipes.schema import Network
from ovconvert.stages.acquire import pack_directory

# name → (module, network function, arg-scope function); "tf_slim.nets…" modules ship with tf_slim,
# "nets…" modules come from the recipe's freeze.network.definition files.
NETWORKS = {
    "inception_v1": ("tf_slim.nets.inception_v1", "inception_v1", "inception_v1_arg_scope"),
    "inception_v2": ("tf_slim.nets.inception_v2", "inception_v2", "inception_v2_arg_scope"),
    "inception_v3": ("tf_slim.nets.inception_v3", "inception_v3", "inception_v3_arg_scope"),
    "resnet_v1_50": ("tf_slim.nets.resnet_v1", "resnet_v1_50", "resnet_arg_scope"),
    "resnet_v1_101": ("tf_slim.nets.resnet_v1", "resnet_v1_101", "resnet_arg_scope"),
    "resnet_v1_152": ("tf_slim.nets.resnet_v1", "resnet_v1_152", "resnet_arg_scope"),
    "resnet_v2_50": ("tf_slim.nets.resnet_v2", "resnet_v2_50", "resnet_arg_scope"),
    "resnet_v2_101": ("tf_slim.nets.resnet_v2", "resnet_v2_101", "resnet_arg_scope"),
    "resnet_v2_152": ("tf_slim.nets.resnet_v2", "resnet_v2_152", "resnet_arg_scope"),
    "vgg_16": ("tf_slim.nets.vgg", "vgg_16", "vgg_arg_scope"),
    "vgg_19": ("tf_slim.nets.vgg", "vgg_19", "vgg_arg_scope"),
    "inception_v4": ("nets.inception_v4", "inception_v4", "inception_v4_arg_scope"),
    "inception_resnet_v2": ("nets.inception_resnet_v2", "inception_resnet_v2", "inception_resnet_v2_arg_scope"),
    "nasnet_large": ("nets.nasnet.nasnet", "build_nasnet_large", "nasnet_large_arg_scope"),
    "nasnet_mobile": ("nets.nasnet.nasnet", "build_nasnet_mobile", "nasnet_mobile_arg_scope"),
    "mobilenet_v1": ("nets.mobilenet_v1", "mobilenet_v1", "mobilenet_v1_arg_scope"),
}
IMAGENET_RGB_MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)  # slim's vgg_preprocessing
INCEPTION_CENTRAL_FRACTION = 0.875  # slim's inception_preprocessing at evaluation
VGG_RESIZE_SIDE = 256  # slim's vgg_preprocessing at evaluation

# IRs take any batch where the graph allows (convert.dynamic_batch unset): tried, and dropped when a
# batch does not answer as one input at a time.
ANY_BATCH = True


def tf_slim_has(name: str) -> bool:
    return name in NETWORKS and NETWORKS[name][0].startswith("tf_slim.")


# ------------------------------------------------------------------------------------- network building


def build_network(network: Network, definition_dir: Optional[Path]) -> None:
    """Build the inference graph into the default graph: Placeholder `input` [None, H, W, 3] → network."""
    import tensorflow as tf
    import tf_slim as slim

    tf_slim_compat.install()
    if network.name not in NETWORKS:
        raise UserError(f"freeze.network.name: unknown slim network {network.name!r}; "
                        f"known: {', '.join(NETWORKS)}")
    module_name, function_name, scope_name = NETWORKS[network.name]
    module = _import_definition(module_name, definition_dir, network.name)
    size = int(network.args.get("image_size", 224))
    num_classes = int(network.args.get("num_classes", 1001))
    images = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3], name="input")
    with slim.arg_scope(getattr(module, scope_name)()):
        getattr(module, function_name)(images, num_classes=num_classes, is_training=False)


def _import_definition(module_name: str, definition_dir: Optional[Path], network: str):
    if module_name.startswith("tf_slim."):
        return importlib.import_module(module_name)
    if definition_dir is None or not (definition_dir / (module_name.replace(".", "/") + ".py")).is_file():
        raise UserError(f"{network} is not in tf_slim: list its tensorflow/models files under "
                        "freeze.network.definition (saved as nets/…) so they are fetched")
    for package in (definition_dir / "nets", definition_dir / "nets" / "nasnet"):
        if package.is_dir() and not (package / "__init__.py").exists():
            (package / "__init__.py").write_text("")
    # The fetched files import each other as `nets.…`; a previous run's modules must not shadow them.
    for name in [n for n in sys.modules if n == "nets" or n.startswith("nets.")]:
        del sys.modules[name]
    sys.path.insert(0, str(definition_dir))
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(str(definition_dir))


# ----------------------------------------------------------------------------------------- preprocessing


def geometry(rgb: np.ndarray, kind: str, size: tuple[int, int]) -> np.ndarray:
    """Crop and resize as slim's evaluation preprocessing does; values stay 0-255 (float32, RGB)."""
    import tensorflow as tf

    image = tf.convert_to_tensor(rgb, tf.float32)
    if kind == "inception":
        image = tf.image.central_crop(image, INCEPTION_CENTRAL_FRACTION)
        image = tf.image.resize(image, size, method="bilinear")
    elif kind == "vgg":
        height, width = rgb.shape[:2]
        scale = VGG_RESIZE_SIDE / min(height, width)
        resized = (max(size[0], round(height * scale)), max(size[1], round(width * scale)))
        image = tf.image.resize(image, resized, method="bilinear")
        top, left = (resized[0] - size[0]) // 2, (resized[1] - size[1]) // 2
        image = image[top:top + size[0], left:left + size[1]]
    else:
        raise UserError(f"validate.preprocessing: unknown slim preprocessing {kind!r}; use inception or vgg")
    return image.numpy()


def serving_metadata(recipe, cut, described: dict) -> dict:
    """The crop slim's evaluation preprocessing makes before the resize (the IR has the mean/scale, not
    the crop): a client that resizes the whole photo feeds the network another picture."""
    kind = recipe.validate.preprocessing or "inception"
    crop = {"crop": "central", "central_fraction": INCEPTION_CENTRAL_FRACTION} if kind == "inception" \
        else {"crop": "shorter_side_then_centre", "resize_side": VGG_RESIZE_SIDE}
    return described | {"input": described["input"] | crop | {"resize": "tf_bilinear"}}


def normalize(image: np.ndarray, kind: str) -> np.ndarray:
    """The value part of slim's preprocessing, applied on the framework side only."""
    if kind == "inception":
        return (image / 255.0 - 0.5) * 2.0
    return image - IMAGENET_RGB_MEANS


def validation_samples(recipe, frozen, cut) -> list:
    from ovconvert.stages.validate import Sample

    spec = recipe.validate
    kind = spec.preprocessing or "inception"
    shape = cut.inputs[0].shape
    size = tuple(spec.image_size) if spec.image_size else (shape[1], shape[2])
    tensor = cut.original_inputs[0].tensor_name
    samples = []
    for name, rgb in load_images(spec.images, spec.count):
        pixels = geometry(rgb, kind, size)
        raw = pixels[..., ::-1] if spec.ir_channel_order == "BGR" else pixels
        samples.append(Sample(name, {tensor: normalize(pixels, kind)[None]},
                              [np.ascontiguousarray(raw[None], dtype=np.float32)]))
    return samples


# ------------------------------------------------------------------------------------------ source builder


def build_untrained_archive(args: dict, out_dir: Path) -> Path:
    """An untrained (randomly initialised, seeded) tf_slim network saved as a checkpoint and packed in its
    real archive layout, e.g. inception_v1_2016_08_28.tar.gz holding inception_v1.ckpt (TF1 V1 format).
    Lets the whole recipe path — unpack, build the inference graph, restore, freeze — run offline."""
    import tensorflow as tf

    network = args["network"]
    if not tf_slim_has(network):
        raise UserError(f"source.builder_args.network: {network!r} is not in tf_slim; "
                        f"untrained archives can be built for: {', '.join(n for n in NETWORKS if tf_slim_has(n))}")
    checkpoint_name = args.get("checkpoint", f"{network}.ckpt")
    archive = out_dir / args.get("archive", f"{network}.tar.gz")
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(int(args.get("seed", 0)))
        build_network(Network(network, {k: v for k, v in args.items() if k in ("num_classes", "image_size")}), None)
        version = tf.compat.v1.train.SaverDef.V1 if args.get("format", "V1") == "V1" else tf.compat.v1.train.SaverDef.V2
        saver = tf.compat.v1.train.Saver(write_version=version)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            _rescale_for_signal(session, int(args.get("seed", 0)))
            staging = out_dir / "checkpoint"
            staging.mkdir()
            saver.save(session, str(staging / checkpoint_name), write_meta_graph=False, write_state=False)
    return pack_directory(staging, archive)


def _rescale_for_signal(session, seed: int) -> None:
    """Re-draw weights with He scaling (variance 2 / fan-in) and give batch-norm offsets some spread.
    slim's own initialisers are meant for training: untrained, activations shrink through the depth and
    every image gets the same uniform prediction, against which validation could not catch a wrong mean
    or channel order. With signal preserved, different images give different, confident predictions."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for variable in tf.compat.v1.global_variables():
        shape = variable.shape.as_list()
        name = variable.op.name
        if name.endswith(("weights", "kernel")) and len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif name.endswith("beta"):
            value = rng.normal(0.0, 0.1, shape)
        else:
            continue
        variable.load(value.astype(np.float32), session)
    _calibrate_batch_norm(session, rng)


def _calibrate_batch_norm(session, rng) -> None:
    """Set each batch norm's moving mean/variance, in graph order, to the statistics its input really
    has on a batch of noise images. Without this, deep residual networks (ResNet, 50+ layers) grow their
    activations layer after layer until the softmax saturates to one class for every image."""
    import tensorflow as tf

    graph = session.graph
    variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
    images = graph.get_tensor_by_name("input:0")
    size = images.shape.as_list()[1]
    batch = rng.uniform(-1.0, 1.0, (2, size, size, 3)).astype(np.float32)
    for op in graph.get_operations():
        if not op.type.startswith("FusedBatchNorm"):
            continue
        scope = op.name.rsplit("/", 1)[0]
        mean_var, variance_var = variables.get(f"{scope}/moving_mean"), variables.get(f"{scope}/moving_variance")
        if mean_var is None or variance_var is None:
            continue
        values = session.run(op.inputs[0], {images: batch})
        axes = tuple(range(values.ndim - 1))
        mean_var.load(values.mean(axis=axes).astype(np.float32), session)
        variance_var.load(values.var(axis=axes).astype(np.float32) + 1e-3, session)


SOURCE_BUILDERS = {"untrained_archive": build_untrained_archive}
