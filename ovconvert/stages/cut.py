"""Stage 4, cut: keep only the subgraph between the cut inputs and outputs, done on the GraphDef itself.

Each cut input tensor becomes a Placeholder of the given shape and type; then only the nodes the outputs
need (through data edges) are kept. Cutting here rather than with mo's --input/--output matters: given
the OpenVINO AOCR tutorial's cut, mo 2024.6 keeps the string input `input_image_as_bytes` (it is reached
through control edges of asserts) and writes an IR that does not compile ("Parameter operation with
dynamic rank"); and ovc cannot cut at all. A graph cut here converts with both.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ovconvert.errors import UserError
from ovconvert.graph import proto
from ovconvert.graph.tensor_spec import TensorSpec, parse_tensor_spec, split_tensor_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CutGraph:
    path: Path
    inputs: tuple[TensorSpec, ...]  # as Placeholders of the cut graph: node = placeholder name, full shape
    outputs: tuple[str, ...]
    original_inputs: tuple[TensorSpec, ...]  # the cut tensors in the source graph (to feed TensorFlow)
    dropped_control_edges: int = 0


def placeholder_name(spec: TensorSpec) -> str:
    return spec.node if spec.port == 0 else f"{spec.node}_port{spec.port}"


def whole_tflite(model_path: Path, summary) -> CutGraph:
    """A .tflite model is converted whole: its own inputs and outputs stand for the cut."""
    inputs = tuple(TensorSpec(t.name, 0, t.shape, t.dtype) for t in summary.inputs)
    return CutGraph(model_path, inputs, summary.output_names, inputs)


def cut(frozen_path: Path, input_texts: tuple[str, ...], outputs: tuple[str, ...], out_dir: Path,
        prefer_graph_shapes: bool = False) -> CutGraph:
    """Cut the frozen graph at `input_texts` (node:port[shape]{type}) and keep what `outputs` need. With
    `prefer_graph_shapes` (a user's own model), a dimension the graph fixes replaces the recipe's."""
    graph = proto.read_graph_def(frozen_path)
    nodes = {node.name: node for node in graph.node}
    specs = [parse_tensor_spec(text) for text in input_texts]
    if not specs:
        specs = [TensorSpec(n.name, 0, None, None) for n in graph.node if n.op == "Placeholder"]
    output_nodes = tuple(split_tensor_name(name)[0] for name in outputs)
    for name in [s.node for s in specs] + list(output_nodes):
        if name not in nodes:
            raise UserError(f"cut node '{name}' is not in the graph {frozen_path.name}; "
                            "run `ovconvert summarize` to see its inputs and outputs")
    specs = _complete_specs(graph, specs, frozen_path, prefer_graph_shapes)

    replaced = {spec.tensor_name: placeholder_name(spec) for spec in specs}
    kept_nodes = _needed_nodes(nodes, output_nodes, replaced)
    result = proto.GraphDef()
    result.versions.CopyFrom(graph.versions)
    result.library.CopyFrom(graph.library)
    for spec in specs:
        placeholder = result.node.add()
        placeholder.name = placeholder_name(spec)
        placeholder.op = "Placeholder"
        placeholder.attr["dtype"].type = proto.dtype_enum(spec.dtype)
        for size in spec.shape:
            placeholder.attr["shape"].shape.dim.add().size = size
    placeholder_names = {placeholder_name(s) for s in specs}
    dropped = 0
    for node in graph.node:
        if node.name not in kept_nodes or node.name in placeholder_names:
            continue
        copy = result.node.add()
        copy.CopyFrom(node)
        del copy.input[:]
        for name in node.input:
            producer, port = split_tensor_name(name)
            if port < 0:
                # A control edge from a node the outputs do not need (an Assert on the cut-away
                # preprocessing, typically) would drag that whole branch back in: drop it.
                if producer in kept_nodes:
                    copy.input.append(name)
                else:
                    dropped += 1
                continue
            copy.input.append(replaced.get(f"{producer}:{port}", name))
    if dropped:
        log.info("cut: dropped %d control edge(s) into the cut-away part of the graph", dropped)
    target = proto.write_graph_def(result, out_dir / "cut.pb")
    inputs = tuple(TensorSpec(placeholder_name(s), 0, s.shape, s.dtype) for s in specs)
    return CutGraph(target, inputs, output_nodes, tuple(specs), dropped)


def _needed_nodes(nodes, outputs: tuple[str, ...], replaced: dict[str, str]) -> set[str]:
    """Nodes the outputs reach through data edges, stopping at cut tensors."""
    needed, queue = set(), deque(outputs)
    while queue:
        name = queue.popleft()
        if name in needed:
            continue
        needed.add(name)
        for tensor in nodes[name].input:
            producer, port = split_tensor_name(tensor)
            if port < 0 or f"{producer}:{port}" in replaced:
                continue
            if producer not in nodes:
                raise UserError(f"the graph is broken: {name} reads {tensor}, which is not in it; re-export the model")
            queue.append(producer)
    cut_nodes = {name.rsplit(":", 1)[0] for name in replaced}
    for node_name in cut_nodes & needed:
        # A cut node still needed means another of its output ports is used: the cut would not hold.
        raise UserError(f"cut input {node_name} has other outputs the cut graph still needs; cut at those "
                        "ports too (node:port) or move the cut")
    return needed | set(replaced.values())


def _complete_specs(graph, specs: list[TensorSpec], frozen_path: Path, prefer_graph: bool = False) -> list[TensorSpec]:
    """Fill unknown dimensions (-1) and types from TensorFlow's static shape inference, and say so; a
    shape of the wrong rank is an error whether or not the spec is complete."""
    from ovconvert.graph.tf_graph import import_graph

    tf_graph = import_graph(graph)
    completed = []
    for spec in specs:
        try:
            tensor = tf_graph.get_tensor_by_name(spec.tensor_name)
        except (KeyError, ValueError):
            raise UserError(f"cut input {spec.tensor_name} is not a tensor of {frozen_path.name}; check the port") \
                from None
        static = tensor.shape
        if spec.shape is None:
            if static.rank is None:
                raise UserError(f"cut input {spec.tensor_name}: the graph does not know its rank; "
                                "give the full shape, e.g. [1,224,224,3]")
            shape = tuple(-1 if d is None else d for d in static.as_list())
        elif static.rank is not None and static.rank != len(spec.shape):
            raise UserError(f"cut input {spec.tensor_name}: shape {list(spec.shape)} has rank {len(spec.shape)}, "
                            f"the graph says rank {static.rank}")
        else:
            graph_dims = static.as_list() if static.rank is not None else [None] * len(spec.shape)
            shape = tuple(g if d == -1 and g is not None else d for d, g in zip(spec.shape, graph_dims))
            if prefer_graph and any(g is not None and g != d for d, g in zip(shape, graph_dims)):
                own = tuple(d if g is None else g for d, g in zip(shape, graph_dims))
                log.info("cut: the model's own input %s is %s; using it instead of the recipe's %s",
                         spec.tensor_name, list(own), list(shape))
                shape = own
        if -1 in shape:
            raise UserError(f"cut input {spec.tensor_name}: the graph leaves dimension(s) "
                            f"{[i for i, d in enumerate(shape) if d == -1]} unknown ({list(shape)}); "
                            "give them in the recipe or with --set cut.inputs=...")
        dtype = spec.dtype or tensor.dtype.base_dtype.name
        found = TensorSpec(spec.node, spec.port, shape, dtype)
        if found != spec:
            log.info("cut: %s completed from the graph as %s", spec, found)
        completed.append(found)
    return completed
