"""Stage 3, summarize: what a frozen graph takes and gives, reported like OpenVINO's summarize_graph.py.

Inputs are Placeholder nodes; outputs are nodes no other node reads (control edges do not count), minus
constants, assignments and the like — exactly OpenVINO's rule, so its text format can be reproduced. On
top of that: an op-type histogram, the string and control-flow nodes that show up as noisy "outputs"
(`cond/switch_t`, hash-table inserts), ops OpenVINO cannot convert, and a suggested cut with its mo command.
Works on the protobuf alone: no TensorFlow import, which is why it is fast.
"""

from __future__ import annotations

import shlex
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Optional

from ovconvert.graph import proto
from ovconvert.graph.tensor_spec import split_tensor_name

# OpenVINO's summarize_graph.py: a node with no consumers is not an output if its op (or the last part of
# its name) is one of these.
UNLIKELY_OUTPUT_TYPES = ("Const", "Assign", "NoOp", "Parameter", "Assert")
CONTROL_FLOW_OPS = {"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "RefSwitch", "RefMerge",
                    "RefEnter", "RefExit", "ControlTrigger"}
TABLE_OPS_PREFIXES = ("LookupTable", "HashTable", "MutableHashTable", "InitializeTable")
TENSOR_ARRAY_PREFIX = "TensorArray"
# Ops that pick parts of a tensor: the suggested output is the tensor they pick from.
SELECTION_OPS = {"GatherV2", "Gather", "Slice", "StridedSlice", "Identity", "Cast", "Squeeze", "Reshape"}
# Small integer tensors that loops and maps compute about their inputs, never model results.
LOOP_BOOKKEEPING_OPS = {"Const", "Placeholder", "Range", "Shape", "ShapeN", "Size", "Rank", "Equal", "NotEqual",
                        "Less", "LessEqual", "Greater", "GreaterEqual", "Fill", "ZerosLike", "OnesLike"}
# Ops that keep the meaning of a tensor while changing its layout or scale: walked through when looking
# for where a decoded image enters the network.
PASS_THROUGH_OPS = {"Identity", "Cast", "Reshape", "ExpandDims", "Squeeze", "Transpose", "Sub", "Mul", "RealDiv",
                    "Add", "AddV2", "Div", "Maximum", "Minimum"}


@dataclass
class Summary:
    inputs: dict[str, dict[str, str]]  # name → {"type": ..., "shape": ...}, as OpenVINO reports them
    outputs: list[str]
    node_count: int = 0
    op_histogram: dict[str, int] = field(default_factory=dict)
    noisy_outputs: dict[str, str] = field(default_factory=dict)  # output → why it is not a model output
    suggested_inputs: list[str] = field(default_factory=list)
    suggested_outputs: list[str] = field(default_factory=list)
    unsupported_ops: Optional[dict[str, int]] = None  # None: not checked
    unsupported_error: Optional[str] = None  # OpenVINO's frontend failed on the graph as a whole

    def ov_text(self) -> str:
        """The exact text OpenVINO's summarize_graph.py prints."""
        lines = [f"{len(self.inputs)} input(s) detected:"]
        lines += [f"Name: {name}, type: {info['type']}, shape: {info['shape']}" for name, info in self.inputs.items()]
        lines.append(f"{len(self.outputs)} output(s) detected:")
        lines += self.outputs
        return "\n".join(lines) + "\n"

    def details_text(self, model_path: str = "MODEL") -> str:
        lines = [f"{self.node_count} nodes; op types:"]
        lines += [f"  {count:6d}  {op}" for op, count in sorted(self.op_histogram.items(), key=lambda kv: -kv[1])]
        if self.noisy_outputs:
            lines.append("Outputs that are not model results:")
            lines += [f"  {name}: {why}" for name, why in self.noisy_outputs.items()]
        if self.unsupported_error:
            lines.append("OpenVINO's TensorFlow frontend fails on this graph as a whole (cut it first): "
                         + self.unsupported_error)
        if self.unsupported_ops is not None:
            if self.unsupported_ops:
                lines.append("Ops OpenVINO cannot convert (cut them away):")
                lines += [f"  {count:6d}  {op}" for op, count in sorted(self.unsupported_ops.items())]
            else:
                lines.append("OpenVINO can convert every op of this graph.")
        lines.append("Suggested cut: --input " + ",".join(self.suggested_inputs)
                     + " --output " + ",".join(self.suggested_outputs))
        lines.append("mo command: " + shlex.join(self.mo_command(model_path)))
        return "\n".join(lines) + "\n"

    def mo_command(self, model_path: str) -> list[str]:
        command = ["mo", "--input_model", model_path]
        if self.suggested_inputs:
            command += ["--input", ",".join(self.suggested_inputs)]
        if self.suggested_outputs:
            command += ["--output", ",".join(self.suggested_outputs)]
        return command

    def to_json(self) -> dict:
        return asdict(self)


def summarize(graph: proto.GraphDef, check_unsupported_in: Optional[str] = None) -> Summary:
    """Summarize a GraphDef. With `check_unsupported_in` (the model's path), OpenVINO's TensorFlow frontend
    is asked which ops it cannot convert (slower: it loads OpenVINO)."""
    nodes = {node.name: node for node in graph.node}
    consumed = {split_tensor_name(name)[0] for node in graph.node for name in node.input if not name.startswith("^")}

    inputs = {}
    outputs = []
    for node in graph.node:
        if node.op == "Placeholder":
            inputs[node.name] = {"type": proto.dtype_name(node.attr["dtype"].type),
                                 "shape": proto.shape_text(node.attr["shape"].shape).replace(" ", "").replace("?", "-1")}
        if node.name not in consumed and node.op not in UNLIKELY_OUTPUT_TYPES \
                and node.name.split("/")[-1] not in UNLIKELY_OUTPUT_TYPES:
            outputs.append(node.name)

    summary = Summary(inputs=inputs, outputs=outputs, node_count=len(graph.node),
                      op_histogram=dict(Counter(node.op for node in graph.node)))
    summary.noisy_outputs = {name: why for name in outputs if (why := _noise_reason(nodes[name]))}
    summary.suggested_inputs = _suggest_inputs(nodes, inputs)
    summary.suggested_outputs = _suggest_outputs(nodes, [o for o in outputs if o not in summary.noisy_outputs])
    if check_unsupported_in is not None:
        try:
            summary.unsupported_ops = unsupported_ops(check_unsupported_in)
        except Exception as error:  # the frontend raises plain RuntimeErrors/Exceptions from C++
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            summary.unsupported_error = " ".join(lines[-2:])[:400]
    return summary


def _noise_reason(node) -> Optional[str]:
    if node.op in CONTROL_FLOW_OPS or node.op == "Identity" and any(
            part in node.name.split("/")[-1] for part in ("switch_t", "switch_f", "pred_id")):
        return "control-flow bookkeeping of a tf.cond/while_loop (nothing reads it)"
    if node.op.startswith(TABLE_OPS_PREFIXES):
        return "hash-table operation (string lookup tables are filled at session start, not model results)"
    if node.op.startswith(("Save", "Restore")) or node.name.startswith(("save/", "save_")):
        return "checkpoint save/restore machinery"
    if node.op.startswith(TENSOR_ARRAY_PREFIX):
        return "TensorArray bookkeeping"
    if node.op in ("VariableV2", "VarHandleOp", "VariableV1", "Variable"):
        return "an unused variable"
    return None


def _is_string_or_control(node) -> bool:
    return (node.op in CONTROL_FLOW_OPS or node.op.startswith((TENSOR_ARRAY_PREFIX, *TABLE_OPS_PREFIXES))
            or "/while/" in f"/{node.name}/" or node.op.startswith(("Decode", "String", "AsString", "Substr"))
            or _output_dtype(node) == "string")


def _output_dtype(node) -> Optional[str]:
    for key in ("dtype", "T", "out_type", "DstT", "output_type"):
        if key in node.attr and node.attr[key].type:
            return proto.dtype_name(node.attr[key].type)
    return None


def _suggest_inputs(nodes, inputs) -> list[str]:
    """Numeric placeholders as they are; for a string placeholder (encoded image bytes), the tensor where
    the decoded image enters the network: the input of the first convolution or matmul, walked back
    through reshapes and scaling to the first tensor made by string or control-flow machinery."""
    suggestions = []
    for name, info in inputs.items():
        if info["type"] != "string":
            suggestions.append(name)
            continue
        consumers = _consumer_map(nodes)
        seen, queue, entry = {name}, deque([name]), None
        while queue and entry is None:
            current = queue.popleft()
            for consumer in consumers.get(current, ()):
                if nodes[consumer].op in ("Conv2D", "MatMul", "DepthwiseConv2dNative"):
                    entry = nodes[consumer].input[0]
                    break
                if consumer not in seen:
                    seen.add(consumer)
                    queue.append(consumer)
        if entry is None:
            suggestions.append(name)
            continue
        tensor = entry
        while nodes[split_tensor_name(tensor)[0]].op in PASS_THROUGH_OPS:
            producer = nodes[split_tensor_name(tensor)[0]]
            upstream = producer.input[0]
            if _is_string_or_control(nodes[split_tensor_name(upstream)[0]]):
                break
            tensor = upstream
        node_name, port = split_tensor_name(tensor)
        producer = nodes[node_name]
        if producer.op in PASS_THROUGH_OPS and _is_string_or_control(nodes[split_tensor_name(producer.input[0])[0]]):
            tensor = producer.input[0]
            node_name, port = split_tensor_name(tensor)
        suggestions.append(f"{node_name}:{port}")
    return suggestions


def _suggest_outputs(nodes, outputs) -> list[str]:
    """Numeric outputs as they are; an output computed by string or control-flow machinery (a string
    label looked up in a table, made by tf.map_fn) is traced back to where numeric data enters that
    machinery: the value a TensorArrayScatter (the start of a map_fn) takes, or else the first numeric
    tensor that is not loop bookkeeping (shapes, ranges, comparisons)."""
    scattered: list[str] = []
    fallback: list[str] = []
    direct: list[str] = []
    for name in outputs:
        if not _is_string_or_control(nodes[name]) and _output_dtype(nodes[name]) not in ("string", "float64"):
            direct.append(name)
            continue
        seen, queue = {name}, deque([name])
        while queue:
            current = nodes[queue.popleft()]
            inputs = list(current.input)
            if current.op.startswith("TensorArrayScatter") and len(inputs) > 2:
                value = split_tensor_name(inputs[2])[0]
                if value in nodes and not _is_string_or_control(nodes[value]):
                    while nodes[value].op in SELECTION_OPS and nodes[value].input:
                        upstream = split_tensor_name(nodes[value].input[0])[0]
                        if _is_string_or_control(nodes[upstream]):
                            break
                        value = upstream
                    if value not in scattered:
                        scattered.append(value)
                    inputs = inputs[:2]  # found where numbers enter; a nested map's value is walked on
            for tensor in inputs:
                producer_name, port = split_tensor_name(tensor)
                if port < 0 or producer_name in seen or producer_name not in nodes:
                    continue
                seen.add(producer_name)
                producer = nodes[producer_name]
                if producer.op in LOOP_BOOKKEEPING_OPS:
                    continue
                if _is_string_or_control(producer) or producer.op in ("StridedSlice", "Identity"):
                    queue.append(producer_name)
                elif producer_name not in fallback:
                    fallback.append(producer_name)
    return direct + (scattered or fallback) or list(outputs)


def _consumer_map(nodes) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {}
    for node in nodes.values():
        for name in node.input:
            producer, port = split_tensor_name(name)
            if port >= 0:
                consumers.setdefault(producer, []).append(node.name)
    return consumers


def unsupported_ops(model_path: str) -> dict[str, int]:
    """Op types OpenVINO's TensorFlow frontend leaves unconverted, with counts (asks the installed OpenVINO)."""
    from openvino.frontend import FrontEndManager

    frontend = FrontEndManager().load_by_framework("tf")
    model = frontend.convert_partially(frontend.load(model_path))
    counts: Counter = Counter()
    for op in model.get_ordered_ops():
        if op.get_type_name() == "FrameworkNode":
            counts[op.get_attributes().get("tf_type", op.get_friendly_name())] += 1
    return dict(counts)
