"""The one way a GraphDef (a file, bytes, or a proto read by graph.proto) becomes a TensorFlow graph."""

from __future__ import annotations

from pathlib import Path


def import_graph(source) -> "tf.Graph":  # noqa: F821 (TensorFlow is imported lazily)
    """A tf.Graph holding the GraphDef, its nodes under their own names (no import prefix)."""
    import tensorflow as tf

    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
    elif isinstance(source, bytes):
        data = source
    else:
        data = source.SerializeToString()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(data)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    return graph
