"""Make tf_slim's layers work on TensorFlow 2.17.

tf_slim.batch_norm builds `tensorflow.python.layers.normalization.BatchNormalization`, which TF 2.17
lazily imports from `tf_keras.legacy_tf_layers.normalization`; tf_keras 2.17 ships that module as
`tf_keras.src.legacy_tf_layers.normalization` only, so every slim network with batch norm fails with
ModuleNotFoundError. Registering the module under the name TensorFlow asks for is the whole fix.
"""

import importlib
import sys


def install() -> None:
    if "tf_keras.legacy_tf_layers" in sys.modules:
        return
    for name in ("legacy_tf_layers", "legacy_tf_layers.normalization"):
        try:
            importlib.import_module(f"tf_keras.{name}")
        except ModuleNotFoundError:
            sys.modules[f"tf_keras.{name}"] = importlib.import_module(f"tf_keras.src.{name}")
