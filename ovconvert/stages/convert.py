"""Stage 5, convert: run the Model Optimizer (or ovc) on the cut graph and produce the IR.

The command is built from the recipe's structured options, printed shell-quoted, and run in a
subprocess with a timeout and with telemetry off (`CI=true`: mo 2024.6 deadlocked in its telemetry about
once in a dozen runs here). mo writes into a scratch directory; the IR is moved into place only when mo
succeeded, so a failed or timed-out run leaves no half-written IR behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ovconvert.errors import ToolError, UserError
from ovconvert.graph.tensor_spec import TensorSpec
from ovconvert.recipes.schema import Convert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IR:
    xml: Path
    bin: Path
    command: tuple[str, ...]
    log: Path
    seconds: float


def _vector(values) -> str:
    return "[" + ",".join(f"{v:g}" for v in values) + "]"


def mo_arguments(spec: Convert, model: Path, inputs: tuple[TensorSpec, ...], outputs: tuple[str, ...],
                 output_dir: Path, model_name: str) -> list[str]:
    """The mo command line (without the leading `mo`) a recipe's convert section means."""
    args = ["--input_model", str(model), "--output_dir", str(output_dir), "--model_name", model_name]
    if inputs:
        args += ["--input", ",".join(spec_.node for spec_ in inputs)]
        shapes = spec.input_shape or tuple(s.shape for s in inputs if s.shape is not None)
        if spec.dynamic_batch:
            shapes = tuple((-1, *shape[1:]) if shape else shape for shape in shapes)
        if shapes:
            args += ["--input_shape", ",".join(_vector(shape) for shape in shapes)]
    if outputs and spec.mo_outputs:
        args += ["--output", ",".join(outputs)]
    if spec.mean_values is not None:
        args += ["--mean_values", _vector(spec.mean_values)]
    if spec.scale_values is not None:
        args += ["--scale_values", _vector(spec.scale_values)]
    if spec.scale is not None:
        args += ["--scale", f"{spec.scale:g}"]
    if spec.reverse_input_channels:
        args.append("--reverse_input_channels")
    if spec.layout:
        args += ["--layout", spec.layout]
    # mo compresses weights to FP16 unless told otherwise; say it either way so the command is explicit.
    args.append(f"--compress_to_fp16={spec.compress_to_fp16}")
    if spec.transformations_config:
        args += ["--transformations_config", spec.transformations_config]
    if spec.pipeline_config:
        args += ["--tensorflow_object_detection_api_pipeline_config", spec.pipeline_config]
    args += list(spec.extra_args)
    return args


def _tool_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["CI"] = "true"  # disables OpenVINO telemetry (it can deadlock mo 2024.6)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return environment


def convert(spec: Convert, model: Path, inputs: tuple[TensorSpec, ...], outputs: tuple[str, ...],
            out_dir: Path, model_name: str, dry_run: bool = False,
            fix_hint: str = "recipe's convert or cut section", ir_subdir: str = "ir") -> Optional[IR]:
    """Run mo (or ovc) into a scratch directory and move the IR to out_dir/ir/ (out_dir/`ir_subdir`)
    when it succeeded. `fix_hint` says what to fix when the tool fails (the recipe, or the flags)."""
    if spec.timeout_s < 1:
        raise UserError(f"convert.timeout_s {spec.timeout_s}: give a number of seconds of at least 1")
    final_dir = out_dir / ir_subdir if ir_subdir else out_dir
    log_path = out_dir / f"{spec.backend}.log"
    if spec.backend == "ovc":
        job = ovc_job(spec, model, inputs, outputs, final_dir, model_name)
        display = ["python", "-m", "ovconvert.stages.ovc_backend", json.dumps(job)]
    else:
        display = ["mo", *mo_arguments(spec, model, inputs, outputs, final_dir, model_name)]
    if dry_run:  # the command is the output
        print("$ " + shlex.join(display), flush=True)
        return None
    log.info("$ %s", shlex.join(display))  # with the other progress lines, on stderr
    if spec.backend == "mo":
        check_object_detection_configs(spec)

    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir))
    try:
        if spec.backend == "ovc":
            job["output_dir"] = str(scratch)
            command = [sys.executable, "-m", "ovconvert.stages.ovc_backend", json.dumps(job)]
        else:
            command = [sys.executable, "-m", "openvino.tools.mo",
                       *mo_arguments(spec, model, inputs, outputs, scratch, model_name)]
        started = time.monotonic()
        with open(log_path, "w") as log_file:
            if spec.backend == "mo" and (spec.transformations_config or spec.pipeline_config):
                log_file.write(f"# ovconvert: {LEGACY_FRONTEND_NOTE}\n")
                log_file.flush()
            returncode = run_process_group(command, log_file, spec.timeout_s, spec.backend, log_path)
        seconds = time.monotonic() - started
        xml, binary = scratch / f"{model_name}.xml", scratch / f"{model_name}.bin"
        if returncode != 0 or not xml.is_file():
            cause = first_error_line(log_path)
            raise ToolError(f"{spec.backend} failed with exit code {returncode}"
                            f"{': ' + cause if cause else ''} (log: {log_path}); fix the "
                            f"{fix_hint}", _tail(log_path, 3) if not cause else "")
        if spec.dynamic_batch and (freed := free_batch_in_reshapes(xml)):
            log.info("      any batch: %d Reshape(s) had batch 1 baked into their target shape; now -1", freed)
        final_dir.mkdir(parents=True, exist_ok=True)
        # The .bin first: an .xml present means its weights are complete.
        binary.replace(final_dir / binary.name)
        xml.replace(final_dir / xml.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return IR(final_dir / xml.name, final_dir / binary.name, tuple(display), log_path, seconds)


def free_batch_in_reshapes(xml: Path) -> int:
    """Frozen graphs often carry the batch of the graph they were frozen from as a constant: Slim's
    `Predictions/Reshape_1` to [1, 1001], a flatten to [1, -1]. Given any batch by mo, such an IR still
    fails at batch 2. Where a Reshape's input has a dynamic batch and its target shape is a constant
    beginning with 1 (and no other -1), that 1 becomes -1: the batch passes through, every other
    dimension stays. Validation then runs a batch against one input at a time, which catches a
    reshape that mixed inputs. Rewrites the IR in place; returns how many Reshapes changed."""
    import numpy as np
    import openvino as ov
    from openvino.runtime import opset13

    core = ov.Core()
    model = core.read_model(str(xml))
    changed = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Reshape":
            continue
        data, pattern = op.input_value(0), op.input_value(1).get_node()
        shape = data.get_partial_shape()
        if pattern.get_type_name() != "Constant" or shape.rank.is_dynamic or shape.rank.get_length() == 0 \
                or not shape[0].is_dynamic:
            continue
        target = pattern.get_data().copy()
        if target.ndim != 1 or target.size == 0 or target[0] != 1 or -1 in target[1:]:
            continue
        target[0] = -1
        op.input(1).replace_source_output(opset13.constant(np.asarray(target, dtype=target.dtype)).output(0))
        changed += 1
    if changed:
        model.validate_nodes_and_infer_types()
        # Beside, then renamed over: the weights of the IR just read are memory-mapped, and writing into
        # that .bin in place would pull the pages from under the model (SIGBUS).
        rewritten = xml.with_name(f".batch-{xml.name}")
        ov.save_model(model, str(rewritten), compress_to_fp16=False)
        rewritten.with_suffix(".bin").replace(xml.with_suffix(".bin"))
        rewritten.replace(xml)
    return changed


def mo_ext_dir() -> Path:
    """The installed Model Optimizer's directory, where its transformations configs live under front/tf/
    (Open Model Zoo calls it $mo_ext_dir). Found without importing mo."""
    import importlib.util

    spec = importlib.util.find_spec("openvino.tools.mo")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the Model Optimizer (openvino-dev) is not installed; run `make install` or "
                        "pip install openvino-dev==2024.6.0")
    return Path(list(spec.submodule_search_locations)[0])


LEGACY_FRONTEND_NOTE = ("--transformations_config/--tensorflow_object_detection_api_pipeline_config switch mo 2024.6 "
                        "to its legacy TensorFlow frontend (the new frontend has no such replacements)")


def check_object_detection_configs(spec: Convert) -> None:
    """Fail before mo runs, with a message naming the fix, when a config file it would need is missing.
    Also say what mo does not: these options switch mo 2024.6 to its legacy TensorFlow frontend."""
    if spec.transformations_config and not Path(spec.transformations_config).is_file():
        given = Path(spec.transformations_config)
        shipped = sorted(p.name for p in (mo_ext_dir() / "front" / "tf").glob("*.json"))
        close = [name for name in shipped if name.split("_")[0] == given.name.split("_")[0]] or shipped
        raise UserError(f"convert.transformations_config: {given} not found; use one that ships with mo as "
                        f"${{mo_ext_dir}}/front/tf/NAME.json, e.g. {', '.join(close[:8])}")
    if spec.pipeline_config and not Path(spec.pipeline_config).is_file():
        raise UserError(f"convert.pipeline_config: {spec.pipeline_config} not found; it comes in the model's archive "
                        "(add it to source.members) or, for a bare frozen graph, write one that describes the graph")
    if spec.transformations_config or spec.pipeline_config:
        log.info("      note: %s", LEGACY_FRONTEND_NOTE)


def ovc_job(spec: Convert, model: Path, inputs: tuple[TensorSpec, ...], outputs: tuple[str, ...],
            output_dir: Path, model_name: str) -> dict:
    if spec.transformations_config or spec.pipeline_config:
        raise UserError("convert.backend ovc has no transformations/pipeline config; use backend mo for them")
    return {
        "model": str(model), "output_dir": str(output_dir), "model_name": model_name,
        "inputs": [[s.node, list(s.shape) if s.shape else None] for s in inputs], "outputs": list(outputs),
        "mean_values": spec.mean_values, "scale_values": spec.scale_values, "scale": spec.scale,
        "reverse_input_channels": spec.reverse_input_channels, "layout": spec.layout,
        "compress_to_fp16": spec.compress_to_fp16, "dynamic_batch": spec.dynamic_batch,
    }


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_process_group(command: list[str], log_file, timeout_s: int, tool: str, log_path: Path) -> int:
    """Run a tool in its own process group and wait for it. `python -m openvino.tools.mo` starts mo's
    main.py as a child of its own, so on a timeout, Ctrl-C or SIGTERM the whole group is killed; killing
    the direct child alone left mo running to write an IR after we had given up on it."""
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=_tool_environment(),
                               start_new_session=True)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{tool} timed out after {timeout_s} s (log: {log_path}); raise convert.timeout_s or "
                        "check the log for a hang", _tail(log_path)) from None
    finally:
        if process.poll() is None:
            _kill_group(process)


def _kill_group(process: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


# mo's banner lines around an error, which say that something failed but not what.
_BANNERS = ("-----", "Unexpected exception happened", "Please contact", "forward the full", "Traceback",
            "For more information", "Run Model Optimizer with --log_level", "Detected not satisfied dependencies")


def first_error_line(path: Path) -> str:
    """The line of mo's log that says what went wrong: the first `[ ERROR ]` line that is not one of mo's
    banners, else the last line of a Python traceback (`SomeError: …`); empty when there is neither."""
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "[ ERROR ]" not in line:
            continue
        message = line.split("[ ERROR ]", 1)[1].strip()
        if message and not any(banner in message[:40] for banner in _BANNERS):
            return message
    tracebacks = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Failure)\b:", line)]
    return tracebacks[-1] if tracebacks else ""
