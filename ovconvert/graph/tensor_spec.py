"""Parse and print tensor specs in mo's `node:port[shape]{type}` notation.

Examples: `input`, `input:0[1,224,224,3]`, `map/TensorArrayStack/TensorArrayGatherV3:0[1 32 86 1]{f32}`.
A shape dimension of -1 (or ?) means "unknown": the cut stage reads it from the graph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ovconvert.errors import UserError

# mo's short type names → TensorFlow dtype names (as DataType enum names without the DT_ prefix).
SHORT_TYPES = {
    "f16": "float16", "f32": "float32", "f64": "float64",
    "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
    "u8": "uint8", "u16": "uint16", "boolean": "bool", "bool": "bool", "string": "string",
}
_SPEC = re.compile(r"^(?P<node>[^:\[\]{}]+?)(?::(?P<port>\d+))?(?:\[(?P<shape>[^\]]*)\])?(?:\{(?P<type>[^}]*)\})?$")


@dataclass(frozen=True)
class TensorSpec:
    node: str
    port: int = 0
    shape: Optional[tuple[int, ...]] = None
    dtype: Optional[str] = None  # TensorFlow dtype name, e.g. "float32"

    @property
    def tensor_name(self) -> str:
        return f"{self.node}:{self.port}"

    def with_shape(self, shape: tuple[int, ...]) -> "TensorSpec":
        return TensorSpec(self.node, self.port, tuple(shape), self.dtype)

    def __str__(self) -> str:
        text = self.tensor_name
        if self.shape is not None:
            text += "[" + ",".join(str(d) for d in self.shape) + "]"
        if self.dtype is not None:
            short = {v: k for k, v in SHORT_TYPES.items() if k not in ("bool",)}[self.dtype]
            text += "{" + short + "}"
        return text


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,224,224,3' or '1 224 224 3' or '[1,224,224,3]' → (1, 224, 224, 3); '?' and -1 mean unknown."""
    body = text.strip().removeprefix("[").removesuffix("]")
    dims = []
    for token in re.split(r"[,\s]+", body.strip()) if body.strip() else []:
        if token in ("?", "-1"):
            dims.append(-1)
        elif token.isdigit() and int(token) == 0:
            raise UserError(f"shape [{text}]: a dimension of 0 gives a tensor with no elements; give its size, "
                            "or -1 for unknown")
        elif token.isdigit():
            dims.append(int(token))
        else:
            raise UserError(f"shape [{text}] does not parse: '{token}' is not a dimension; "
                            "write whole numbers separated by commas, -1 for unknown, e.g. [1,224,224,3]")
    return tuple(dims)


def parse_tensor_spec(text: str) -> TensorSpec:
    match = _SPEC.match(text.strip())
    if not match:
        raise UserError(f"tensor spec '{text}' does not parse; write node:port[shape]{{type}}, "
                        "e.g. input:0[1,224,224,3]{f32}")
    shape = parse_shape(match["shape"]) if match["shape"] is not None else None
    dtype = None
    if match["type"] is not None:
        short = match["type"].strip()
        if short not in SHORT_TYPES:
            raise UserError(f"tensor spec '{text}': unknown type '{{{short}}}'; "
                            f"use one of {', '.join(sorted(SHORT_TYPES))}")
        dtype = SHORT_TYPES[short]
    return TensorSpec(match["node"].strip(), int(match["port"] or 0), shape, dtype)


def split_tensor_name(name: str) -> tuple[str, int]:
    """'node:1' → ('node', 1); 'node' → ('node', 0); '^node' (a control input) → ('node', -1)."""
    if name.startswith("^"):
        return name[1:], -1
    node, _, port = name.rpartition(":")
    if node and port.isdigit():
        return node, int(port)
    return name, 0
