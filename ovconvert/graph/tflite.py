"""What a .tflite model takes and gives, read from its flatbuffer: tensors, op types, how it was quantized.

This is the TFLite counterpart of the GraphDef summary. It reads the flatbuffer with TensorFlow's own
schema bindings (no interpreter, so a model with custom ops still reads), and asks OpenVINO's TFLite
frontend which ops it cannot convert — before mo runs, so the error can name the ops.

It also says whether the model is *full-integer int8 with per-channel weights*, which is what TF2's
TFLiteConverter writes; TF1's converter (the TF-hosted models) wrote uint8 with per-tensor scales.
OpenVINO 2024.6 converts the int8 kind wrongly (openvinotoolkit/openvino#24045), so validation failures
on such a model get that cause named.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from ovconvert.errors import UserError

TFLITE_MAGIC = b"TFL3"  # the flatbuffer file identifier, bytes 4-8


@dataclass(frozen=True)
class TfliteTensor:
    name: str
    dtype: str  # numpy name: uint8, int8, float32, ...
    shape: tuple[int, ...]
    scale: Optional[float] = None  # quantization of a uint8/int8 tensor: real = scale * (q - zero_point)
    zero_point: Optional[int] = None

    def text(self) -> str:
        quantized = f", quantized scale {self.scale:.6g} zero point {self.zero_point}" if self.scale else ""
        return f"Name: {self.name}, type: {self.dtype}, shape: [{','.join(map(str, self.shape))}]{quantized}"


@dataclass
class TfliteSummary:
    inputs: list[TfliteTensor]
    outputs: list[TfliteTensor]
    op_histogram: dict[str, int]
    per_channel_int8: bool  # int8 weights with per-channel scales: written by TF2's converter
    unsupported_ops: dict[str, int] = field(default_factory=dict)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    def text(self) -> str:
        lines = [f"{len(self.inputs)} input(s) detected:", *(t.text() for t in self.inputs),
                 f"{len(self.outputs)} output(s) detected:", *(t.text() for t in self.outputs),
                 f"{sum(self.op_histogram.values())} operators; op types:"]
        lines += [f"  {count:6d}  {op}" for op, count in sorted(self.op_histogram.items(), key=lambda kv: -kv[1])]
        lines.append("quantization: " + ("full-integer int8 with per-channel weights (TF2 converter)"
                                          if self.per_channel_int8 else self.quantization_kind()))
        if self.unsupported_ops:
            lines.append("ops OpenVINO cannot convert: " + ", ".join(f"{op} ×{n}" for op, n in self.unsupported_ops.items()))
        return "\n".join(lines) + "\n"

    def quantization_kind(self) -> str:
        dtypes = {t.dtype for t in self.inputs}
        return "uint8 per-tensor (TF1 converter)" if dtypes == {"uint8"} else f"inputs {', '.join(sorted(dtypes))}"

    def to_json(self) -> dict:
        return asdict(self)


def is_tflite(path) -> bool:
    path = Path(path)
    if path.suffix == ".tflite":
        return True
    try:
        with open(path, "rb") as stream:
            return stream.read(8)[4:8] == TFLITE_MAGIC
    except OSError:
        return False


def summarize_tflite(path: Path, check_unsupported: bool = True) -> TfliteSummary:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    try:
        model = flatbuffer_utils.read_model(str(path))
    except Exception as error:  # the flatbuffer reader raises whatever the bytes provoke
        raise UserError(f"{path} is not a readable .tflite model ({type(error).__name__}: {error}); "
                        "re-download it or check the archive member") from None
    if not model.subgraphs or not model.operatorCodes:
        raise UserError(f"{path} is not a readable .tflite model (it has no subgraph or no operators); "
                        "re-download it or check the archive member")
    builtin_names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {value: name.lower() for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    graph = model.subgraphs[0]

    def op_name(operator) -> str:
        code = model.operatorCodes[operator.opcodeIndex]
        # Newer files keep the code in builtinCode, older ones in deprecatedBuiltinCode (capped at 127).
        number = max(code.builtinCode, code.deprecatedBuiltinCode)
        if number == schema.BuiltinOperator.CUSTOM:
            return (code.customCode or b"CUSTOM").decode()
        return builtin_names.get(number, f"BUILTIN_{number}")

    def tensor(index: int) -> TfliteTensor:
        item = graph.tensors[index]
        quantization = item.quantization
        scale = zero_point = None
        if quantization is not None and quantization.scale is not None and len(quantization.scale) == 1:
            scale, zero_point = float(quantization.scale[0]), int(quantization.zeroPoint[0])
        name = item.name.decode() if isinstance(item.name, bytes) else item.name
        return TfliteTensor(name, type_names.get(item.type, str(item.type)), tuple(int(d) for d in item.shape),
                            scale, zero_point)

    op_names = [op_name(operator) for operator in graph.operators]
    per_channel_int8 = any(
        t.type == schema.TensorType.INT8 and t.quantization is not None and t.quantization.scale is not None
        and len(t.quantization.scale) > 1 for t in graph.tensors)
    summary = TfliteSummary([tensor(i) for i in graph.inputs], [tensor(i) for i in graph.outputs],
                            dict(Counter(op_names)), per_channel_int8)
    if check_unsupported:
        summary.unsupported_ops = _unsupported_ops(path, op_names)
    return summary


def _unsupported_ops(path: Path, op_names: list[str]) -> dict[str, int]:
    """Op types OpenVINO's TFLite frontend leaves as framework nodes. The frontend names such a node by
    its operator index in the subgraph, which is mapped back to the op type read from the flatbuffer."""
    from openvino.frontend import FrontEndManager

    frontend = FrontEndManager().load_by_framework("tflite")
    converted = frontend.convert_partially(frontend.load(str(path)))
    counts: Counter = Counter()
    for node in converted.get_ordered_ops():
        if "FrameworkNode" in node.get_type_name():
            name = node.get_friendly_name()
            counts[op_names[int(name)] if name.isdigit() and int(name) < len(op_names) else name] += 1
    return dict(counts)
