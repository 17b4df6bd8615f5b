"""Stage 7, bench: is the IR faster than the framework, and which way of running it is fastest here?

People convert to OpenVINO for speed, and on some CPUs and batch sizes the IR is not faster. So every
conversion is timed against the framework it was validated against, in one process, on the validation
inputs:

- the framework side runs the frozen graph fed *at the cut* (the same work the IR does: no image
  decoding on one side only), or the TFLite interpreter for a .tflite;
- the IR runs at each precision that passed validation (f32, the device's bf16/f16 where it keeps the
  answers, the INT8 IR when it passed its gate), with OpenVINO's LATENCY hint at batch 1 and at batch N,
  and with the THROUGHPUT hint (N requests of 1 in flight; and, for an IR that takes any batch, the batch
  of N split across the device's streams, one request a stream);
- configurations are timed round-robin, one call each per round, in a shuffled order, so that the noise
  of a shared machine hits all of them alike. Medians and 90th percentiles, never means.

The recommendation is the fastest configuration that passed validation, for latency (batch 1) and for
throughput (batch N), with the compile_model config and the benchmark_app flags that reproduce it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ovconvert.errors import ToolError
from ovconvert.predict import complete_feed
from ovconvert.stages.validate import takes_any_batch

log = logging.getLogger(__name__)

WARMUP_ROUNDS = 2
MIN_ROUNDS = 5
MAX_ROUNDS = 500


@dataclass
class Config:
    """One thing to time: `call()` processes `items` inputs."""

    engine: str  # TensorFlow, TFLite, OpenVINO
    precision: str  # "" for the framework; f32, bf16, f16, int8 for the IR
    hint: str  # "" for the framework; LATENCY, THROUGHPUT
    batch: int
    mode: str  # how the batch is run: "one batch of 32", "32 × batch 1", "32 requests in flight"
    call: Callable[[], None] = field(repr=False)
    validated: bool = True
    ir: str = ""  # the IR file timed
    data_shape: str = ""  # the static shape an IR that takes any batch was reshaped to, e.g. x[1,32,86,1]
    request_batch: int = 1  # the batch of one request: N for "one batch of N", N / streams when split
    times: list = field(default_factory=list, repr=False)


@dataclass
class BenchRow:
    engine: str
    precision: str
    hint: str
    batch: int
    mode: str
    median_ms: float  # per call (a call processes `batch` inputs)
    p90_ms: float
    items_per_s: float
    speedup: Optional[float]  # IR inputs/s ÷ the framework's at the same batch
    validated: bool
    rounds: int
    ir: str = ""
    data_shape: str = ""
    request_batch: int = 1

    @property
    def name(self) -> str:
        if self.engine != "OpenVINO":
            return f"{self.engine}, batch {self.batch}"
        name = f"IR {self.precision}, {self.hint}, batch {self.batch}"
        if self.hint == "THROUGHPUT" and self.request_batch > 1:  # the batch split across the streams
            name += f" in requests of {self.request_batch}"
        return name


@dataclass
class Bench:
    rows: list[BenchRow]
    batch: int
    recommendation: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        from dataclasses import asdict

        return {"batch": self.batch, "rows": [asdict(row) | {"name": row.name} for row in self.rows],
                "recommendation": self.recommendation}


def bench(frozen_path, cut, tflite: bool, irs: list[tuple[str, object, bool, str]], samples: list, device: str,
          batch: int, seconds: float) -> Bench:
    """Time the framework and each IR. `irs`: (precision, ov.Model, validated, IR file); an IR precision is
    "int8" for a quantized IR (compiled with the f32 hint: int8 where NNCF put FakeQuantize, f32
    elsewhere, as it was validated) or an INFERENCE_PRECISION_HINT."""
    import openvino as ov

    configs = _framework_configs(frozen_path, cut, tflite, samples, batch)
    core = ov.Core()
    for precision, model, validated, xml in irs:
        for config in _ir_configs(core, model, precision, validated, samples, device, batch):
            config.ir = xml
            configs.append(config)
    _time_round_robin(configs, seconds)
    rows = _rows(configs)
    return Bench(rows, batch, recommend(rows, device))


# ------------------------------------------------------------------------------------------- framework


def _framework_configs(frozen_path, cut, tflite: bool, samples: list, batch: int) -> list[Config]:
    if tflite:
        return _tflite_configs(frozen_path, samples, batch)
    import tensorflow as tf

    from ovconvert.graph.tf_graph import import_graph

    graph = import_graph(frozen_path)
    session = tf.compat.v1.Session(graph=graph)
    fetches = [f"{name}:0" for name in cut.outputs]
    feeds = [_feed_at_cut(sample, cut) for sample in samples]
    first = feeds[0]

    def one() -> None:
        session.run(fetches, feed_dict=first)

    configs = [Config("TensorFlow", "", "", 1, "batch 1", one)]
    stacked = _stack([feeds[i % len(feeds)] for i in range(batch)])
    try:  # a graph whose placeholder has a fixed batch of 1 cannot take a batch: run N calls instead
        session.run(fetches, feed_dict=stacked)
        configs.append(Config("TensorFlow", "", "", batch, f"one batch of {batch}",
                              lambda: session.run(fetches, feed_dict=stacked)))
    except (tf.errors.OpError, ValueError):
        configs.append(Config("TensorFlow", "", "", batch, f"{batch} × batch 1",
                              lambda: [session.run(fetches, feed_dict=feeds[i % len(feeds)]) for i in range(batch)]))
    return configs


def _feed_at_cut(sample, cut) -> dict:
    """TensorFlow fed at the cut tensors, so that it does the work the IR does. Families whose framework
    feed is already at the cut (Slim: the normalized image) keep it; those that feed encoded images
    (aocr) are fed the tensor TensorFlow computed at the cut, which is exactly the IR's input."""
    cut_names = [spec.tensor_name for spec in cut.original_inputs]
    if set(sample.tf_feed) == set(cut_names):
        return sample.tf_feed
    return {name: value for name, value in zip(cut_names, sample.ir_feed)}


def _stack(feeds: list[dict]) -> dict:
    return {name: np.concatenate([np.asarray(feed[name]) for feed in feeds]) for name in feeds[0]}


def _tflite_configs(model_path, samples: list, batch: int) -> list[Config]:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(model_path), num_threads=None)
    interpreter.allocate_tensors()
    inputs = {detail["name"]: detail["index"] for detail in interpreter.get_input_details()}

    def run(sample) -> None:
        for name, value in sample.tf_feed.items():
            interpreter.set_tensor(inputs[name], value)
        interpreter.invoke()

    return [Config("TFLite", "", "", 1, "batch 1", lambda: run(samples[0])),
            Config("TFLite", "", "", batch, f"{batch} × batch 1",
                   lambda: [run(samples[i % len(samples)]) for i in range(batch)])]


# ----------------------------------------------------------------------------------------------------- IR


def _ir_configs(core, model, precision: str, validated: bool, samples: list, device: str,
                batch: int) -> list[Config]:
    """LATENCY at batch 1 and N, THROUGHPUT with N requests of 1 in flight and (an IR that takes any
    batch) with the batch of N split into one request a stream. An IR that takes any batch is
    compiled reshaped to the batch each configuration serves: OpenVINO's CPU plugin runs static shapes
    faster than dynamic ones (the bundled aocr IR: 7.2 ms instead of 11.3 ms at batch 1), and that is
    how it would be deployed (model.reshape, benchmark_app -shape)."""
    import openvino as ov

    hint = "f32" if precision == "int8" else precision
    inputs = [complete_feed(model, sample.ir_feed) for sample in samples]
    any_batch = takes_any_batch(model)
    single = _static(model, inputs[0], 1) if any_batch else model
    request = _compile(core, single, device, hint, "LATENCY").create_infer_request()
    configs = [Config("OpenVINO", precision, "LATENCY", 1, "batch 1", lambda: request.infer(inputs[0]), validated)]
    if any_batch:
        stacked = [np.concatenate([inputs[i % len(inputs)][k] for i in range(batch)]) for k in range(len(inputs[0]))]
        batched = _compile(core, _static(model, inputs[0], batch), device, hint, "LATENCY").create_infer_request()
        configs.append(Config("OpenVINO", precision, "LATENCY", batch, f"one batch of {batch}",
                              lambda: batched.infer(stacked), validated, request_batch=batch))
    else:
        configs.append(Config("OpenVINO", precision, "LATENCY", batch, f"{batch} × batch 1",
                              lambda: [request.infer(inputs[i % len(inputs)]) for i in range(batch)], validated))
    throughput = _compile(core, single, device, hint, "THROUGHPUT")
    streams = optimal_requests(throughput)
    queue = ov.AsyncInferQueue(throughput, streams)

    def in_flight() -> None:
        for i in range(batch):
            queue.start_async(inputs[i % len(inputs)])
        queue.wait_all()

    configs.append(Config("OpenVINO", precision, "THROUGHPUT", batch, f"{batch} requests in flight", in_flight,
                          validated))
    if any_batch and 1 < streams < batch and batch % streams == 0:
        # One stream of several threads leaves threads idle in a network of many small steps (a
        # decoder's): on 2 cores the bundled aocr IR read a batch of 32 split into 2 requests of 16 in
        # flight 1.17× as fast as one request of 32, 1.5× beside a busy process (docs/aocr.md).
        part = batch // streams
        split = _compile(core, _static(model, inputs[0], part), device, hint, "THROUGHPUT")
        split_queue = ov.AsyncInferQueue(split, streams)
        parts = [[array[start:start + part] for array in stacked] for start in range(0, batch, part)]

        def split_in_flight() -> None:
            for feed in parts:
                split_queue.start_async(feed)
            split_queue.wait_all()

        configs.append(Config("OpenVINO", precision, "THROUGHPUT", batch,
                              f"{streams} requests of {part} in flight", split_in_flight, validated,
                              request_batch=part))
    if any_batch:  # benchmark_app and the deployment must reshape the same way
        for config in configs:
            config.data_shape = _data_shape(model, inputs[0], config.request_batch)
    return configs


def _static(model, arrays: list, batch: int):
    """A copy of `model` reshaped to this batch (the other dimensions as the inputs have them)."""
    copy = model.clone()
    copy.reshape({port: [batch, *np.shape(array)[1:]] for port, array in zip(copy.inputs, arrays)})
    return copy


def _data_shape(model, arrays: list, batch: int) -> str:
    return ",".join(f"{port.get_any_name()}[{','.join(str(d) for d in (batch, *np.shape(array)[1:]))}]"
                    for port, array in zip(model.inputs, arrays))


def _compile(core, model, device: str, precision: str, hint: str):
    config = {"PERFORMANCE_HINT": hint}
    if precision and precision != "default":
        config["INFERENCE_PRECISION_HINT"] = precision
    try:
        return core.compile_model(model, device, config)
    except RuntimeError as error:
        raise ToolError(f"OpenVINO cannot compile the IR for {device} ({precision}, {hint}): "
                        f"{str(error).splitlines()[0]}") from None


def optimal_requests(compiled) -> int:
    """How many requests `compiled` runs at once (its streams); 2 where the device does not say."""
    try:
        return max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except RuntimeError:
        return 2


# ------------------------------------------------------------------------------------------------- timing


def _time_round_robin(configs: list[Config], seconds: float) -> None:
    """Each round calls every configuration once, in a new shuffled order; rounds go on until `seconds`
    have passed (at least MIN_ROUNDS). Warm-up rounds (first compiles, allocations) are not counted."""
    rng = np.random.default_rng(0)
    for _ in range(WARMUP_ROUNDS):
        for config in configs:
            config.call()
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < MIN_ROUNDS or (time.perf_counter() < deadline and rounds < MAX_ROUNDS):
        for index in rng.permutation(len(configs)):
            config = configs[index]
            started = time.perf_counter()
            config.call()
            config.times.append(time.perf_counter() - started)
        rounds += 1


def _rows(configs: list[Config]) -> list[BenchRow]:
    framework = {c.batch: float(np.median(c.times)) / c.batch for c in configs if c.engine != "OpenVINO"}
    rows = []
    for config in configs:
        median = float(np.median(config.times))
        per_item = median / config.batch
        speedup = framework[config.batch] / per_item if config.engine == "OpenVINO" else None
        rows.append(BenchRow(config.engine, config.precision, config.hint, config.batch, config.mode,
                             median * 1000, float(np.percentile(config.times, 90)) * 1000, config.batch / median,
                             speedup, config.validated, len(config.times), config.ir, config.data_shape,
                             config.request_batch))
    return rows


# ----------------------------------------------------------------------------------------- recommendation


def recommend(rows: list[BenchRow], device: str) -> dict:
    """The fastest validated IR configuration at batch 1 (latency) and at the larger batch (throughput),
    with how to deploy it."""
    recommendation = {}
    for goal, batch_one in (("latency", True), ("throughput", False)):
        best = fastest_validated(rows, batch_one)
        if best is None:
            continue
        framework = next(r for r in rows if r.engine != "OpenVINO" and r.batch == best.batch)
        recommendation[goal] = {
            "configuration": best.name, "precision": best.precision, "hint": best.hint, "batch": best.batch,
            "speedup": best.speedup, "ir_ms": best.median_ms, "framework_ms": framework.median_ms,
            "framework": framework.engine, "ir": best.ir, "compile_config": deploy_config(best),
            "shape": best.data_shape or None,
            "benchmark_app": benchmark_app_flags(best, device)}
    return recommendation


def fastest_validated(rows: list[BenchRow], batch_one: bool, ir: Optional[str] = None) -> Optional[BenchRow]:
    """The validated IR configuration with the most inputs a second, at batch 1 or at the larger batch;
    among one IR file's rows when `ir` is given (a precision hint is validated for one IR only)."""
    candidates = [r for r in rows if r.engine == "OpenVINO" and r.validated and (r.batch == 1) == batch_one
                  and (ir is None or (r.ir and Path(r.ir).resolve() == Path(ir).resolve()))]
    return max(candidates, key=lambda r: r.items_per_s, default=None)


def rows_of(report_bench: dict) -> list[BenchRow]:
    """The BenchRows of a report's "bench" section (Bench.to_json adds each row's name)."""
    fields = set(BenchRow.__dataclass_fields__)
    return [BenchRow(**{key: value for key, value in row.items() if key in fields})
            for row in report_bench.get("rows", [])]


def deploy_config(row: BenchRow) -> dict:
    """The compile_model config (and OVMS plugin_config) that runs the IR as this row measured it (an IR
    that takes any batch was reshaped to the row's shape first: `shape` in the recommendation)."""
    precision = "f32" if row.precision == "int8" else row.precision
    config = {"PERFORMANCE_HINT": row.hint}
    if precision and precision != "default":
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


def benchmark_app_flags(row: BenchRow, device: str) -> str:
    precision = "f32" if row.precision == "int8" else row.precision
    flags = f"-m {row.ir} -d {device} -hint {row.hint.lower()}"
    if precision and precision != "default":
        flags += f" -infer_precision {precision}"
    if row.data_shape:  # reshaped to a static batch, as the row was measured
        flags += f" -shape {row.data_shape}"
    elif row.hint == "LATENCY" and row.batch > 1:
        flags += f" -b {row.batch}"
    return flags


def recommendation_lines(recommendation: dict) -> list[str]:
    lines = []
    for goal, best in recommendation.items():
        speed = f"{best['speedup']:.2f}× {best['framework']}"
        if best["speedup"] < 1:
            speed += f": no validated IR configuration is faster than {best['framework']} here"
        reshape = f"reshaped to {best['shape']}, " if best.get("shape") else ""
        lines.append(f"deploy for {goal}: {best['configuration']} ({best['ir']}) — {speed} ({best['ir_ms']:.2f} ms "
                     f"vs {best['framework_ms']:.2f} ms a call); {reshape}compile_model config {best['compile_config']}, "
                     f"benchmark_app {best['benchmark_app']}")
    return lines


def table_lines(rows: list[BenchRow]) -> list[str]:
    """The bench table as aligned text, for the log."""
    name_width = max([34, *(len(row.name) for row in rows)])
    mode_width = max([24, *(len(row.mode) for row in rows)])
    header = (f"{'configuration':<{name_width}} {'mode':<{mode_width}} {'median ms':>10} {'p90 ms':>9} "
              f"{'inputs/s':>9} {'speed-up':>9}")
    lines = [header]
    for row in rows:
        speedup = f"{row.speedup:.2f}×" if row.speedup is not None else "1.00× (ref)"
        mark = "" if row.validated else "  (not validated)"
        lines.append(f"{row.name:<{name_width}} {row.mode:<{mode_width}} {row.median_ms:>10.2f} {row.p90_ms:>9.2f} "
                     f"{row.items_per_s:>9.1f} {speedup:>9}{mark}")
    return lines


def bench_run(recipe, frozen, cut_graph, whole_model, ir, validation, quantized, device) -> Bench:
    """The IR at each precision that kept the answers (and the INT8 IR, gated or not: its row says so)
    against the framework."""
    import openvino as ov

    model = ov.Core().read_model(str(ir.xml))
    agreeing = [row.precision for row in validation.precisions if row.reference or row.status == "agrees"]
    irs = [(precision, model, True, str(ir.xml)) for precision in dict.fromkeys(agreeing)]
    if quantized is not None and quantized.model is not None:
        irs.append(("int8", quantized.model, quantized.status == "passed", str(quantized.xml)))
    result = bench(frozen.path, cut_graph, whole_model, irs, validation.samples, device,
                   recipe.bench.batch, recipe.bench.seconds)
    for line in table_lines(result.rows) + recommendation_lines(result.recommendation):
        log.info("      %s", line)
    return result
