"""Read and write GraphDefs without importing TensorFlow.

Importing TensorFlow costs ~3 s; reading a GraphDef needs only its protobuf classes. tensorboard (a
TensorFlow dependency, so always installed) ships the same .proto definitions compiled under its own
package, and the wire format is identical, so a GraphDef read here can be handed to TensorFlow as bytes.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import graph_pb2, meta_graph_pb2, types_pb2

from ovconvert.errors import UserError

GraphDef = graph_pb2.GraphDef
MetaGraphDef = meta_graph_pb2.MetaGraphDef


def read_graph_def(path: str | Path, text: bool | None = None, text_flag: str | None = None) -> graph_pb2.GraphDef:
    """A frozen GraphDef from .pb (binary) or .pbtxt (text); `text=None` decides by the file name.
    `text_flag`: the calling command's flag for a text GraphDef, named in the error (None: the file
    name is the only way, so the error says to name it .pbtxt)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} not found; check the path")
    data = path.read_bytes()
    graph = graph_pb2.GraphDef()
    as_text = path.suffix == ".pbtxt" if text is None else text
    try:
        if as_text:
            text_format.Merge(data.decode("utf-8"), graph)
        else:
            graph.ParseFromString(data)
    except (DecodeError, text_format.ParseError, UnicodeDecodeError) as error:
        kind = "text" if as_text else "binary"
        raise UserError(f"{path} is not a valid {kind} TensorFlow GraphDef ({error}); "
                        "re-export or re-download it" + ("" if as_text else
                                                        f", or pass {text_flag} if it is a text GraphDef" if text_flag
                                                        else ", or name it .pbtxt if it is a text GraphDef")
                        ) from None
    if not graph.node:
        raise UserError(f"{path} holds no graph nodes; it is not a frozen TensorFlow GraphDef (re-export it)")
    return graph


def write_graph_def(graph: graph_pb2.GraphDef, path: str | Path) -> Path:
    """Write atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(graph.SerializeToString())
    partial.replace(path)
    return path


def read_saved_model_meta_graphs(path: str | Path) -> list[meta_graph_pb2.MetaGraphDef]:
    """The MetaGraphDefs of a saved_model.pb. SavedModel is {1: schema version, 2: repeated MetaGraphDef};
    tensorboard has no class for that outer message, so its two fields are read here directly."""
    data = Path(path).read_bytes()
    graphs, position = [], 0
    try:
        while position < len(data):
            key, position = _varint(data, position)
            field, wire_type = key >> 3, key & 7
            if wire_type == 0:
                _, position = _varint(data, position)
            elif wire_type == 2:
                length, position = _varint(data, position)
                if field == 2:
                    meta = meta_graph_pb2.MetaGraphDef()
                    meta.ParseFromString(data[position:position + length])
                    graphs.append(meta)
                position += length
            else:
                raise DecodeError(f"unexpected wire type {wire_type}")
    except (DecodeError, IndexError) as error:
        raise UserError(f"{path} is not a valid SavedModel ({error}); re-export it") from None
    return graphs


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


_DTYPE_NAMES = {"FLOAT": "float32", "DOUBLE": "float64", "HALF": "float16"}


def dtype_name(enum_value: int) -> str:
    """DataType enum → the name TensorFlow's DType.name prints (DT_FLOAT → float32, DT_FLOAT_REF → float32_ref)."""
    name = types_pb2.DataType.Name(enum_value).removeprefix("DT_")
    ref = name.endswith("_REF")
    base = name.removesuffix("_REF")
    return _DTYPE_NAMES.get(base, base.lower()) + ("_ref" if ref else "")


def dtype_enum(name: str) -> int:
    reverse = {v: k for k, v in _DTYPE_NAMES.items()}
    return types_pb2.DataType.Value("DT_" + reverse.get(name, name.upper()))


def shape_text(shape_proto) -> str:
    """Format a TensorShapeProto the way str(tf.TensorShape(...)) does: (1, 224, 224, 3), (None, 3), <unknown>."""
    if shape_proto.unknown_rank:
        return "<unknown>"
    dims = ["None" if d.size < 0 else str(d.size) for d in shape_proto.dim]
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(dims) + ")"


def int_values(tensor) -> list[int]:
    """The values of an int32/int64 TensorProto (a Const's `value`), however it stores them."""
    import numpy as np

    wide = tensor.dtype == types_pb2.DT_INT64
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, np.int64 if wide else np.int32).tolist()
    values = list(tensor.int64_val if wide else tensor.int_val)
    size = 1
    for dim in tensor.tensor_shape.dim:
        size *= dim.size
    # A TensorProto may store one value for a tensor filled with it.
    return values * size if len(values) == 1 and size > 1 else values


def int_tensor(values: list[int], dtype: int):
    """A 1-D int32/int64 TensorProto holding `values`."""
    from tensorboard.compat.proto import tensor_pb2

    tensor = tensor_pb2.TensorProto(dtype=dtype)
    tensor.tensor_shape.dim.add().size = len(values)
    (tensor.int64_val if dtype == types_pb2.DT_INT64 else tensor.int_val).extend(int(v) for v in values)
    return tensor
