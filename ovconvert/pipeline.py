"""The pipeline a recipe drives: acquire → freeze → summarize → cut → convert → validate → quantize →
bench → report.

Each stage takes the previous stage's artifact (a path plus a small typed record) and returns its own.
Nothing is called converted until validation has compared the IR with TensorFlow; an IR that fails
validation is moved to `ir-rejected/` so that nothing picks it up as a good conversion.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ovconvert import environment, families
from ovconvert.candidates import convert_until_valid
from ovconvert.errors import EXIT_OK, OvconvertError, ToolError, UserError, ValidationFailed, stop_if_terminated
from ovconvert.graph.tensor_spec import parse_tensor_spec
from ovconvert.graph.tflite import is_tflite
from ovconvert.recipes.loader import expand
from ovconvert.recipes.schema import Recipe

log = logging.getLogger("ovconvert")

# The order is the data path: each stage needs the artifact of the one before it.
STAGES = ("acquire", "freeze", "summarize", "cut", "convert", "validate", "quantize", "bench", "report")


@dataclass(frozen=True)
class RunOptions:
    output_dir: Path
    cache_dir: Path
    dry_run: bool = False
    backend: Optional[str] = None
    device: str = "CPU"
    # Deployment precisions to judge besides the f32 reference (None: the device's default and natives).
    precisions: Optional[tuple[str, ...]] = None
    # A deployment precision that changes answers fails the run (also validate.strict_precision).
    strict_precision: bool = False
    # "int8" or "none" for this run (None: the recipe's quantize.precision).
    quantize: Optional[str] = None
    # Run the bench stage (None: the recipe's bench.enabled).
    bench: Optional[bool] = None
    # Tries per download (transient failures: cut transfers, timeouts, HTTP 5xx), resuming each time.
    attempts: int = 3
    # Lay the validated IR(s) out as an OpenVINO Model Server repository here (stages/deploy.py).
    ovms_repo: Optional[Path] = None


@dataclass
class RunResult:
    recipe: str
    status: str  # "converted", "validation failed", "dry run", "error"
    exit_code: int
    message: str = ""
    report: Optional[dict] = None


def expand_all(value: Any, values: dict[str, str]) -> Any:
    """Replace ${download_dir}, ${convert_dir}, … in every string of a recipe (or part of one)."""
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(value, **{f.name: expand_all(getattr(value, f.name), values)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, tuple):
        return tuple(expand_all(item, values) for item in value)
    if isinstance(value, Mapping):  # validate.args, builder_args: expand their string values too
        return type(value)({key: expand_all(item, values) for key, item in value.items()})
    if isinstance(value, str):
        return expand(value, **values)
    return value


class _Timer:
    def __init__(self):
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, detail: str = ""):
        stop_if_terminated()  # a SIGTERM whose exception TensorFlow's cleanup swallowed (errors.py)
        number = STAGES.index(name) + 1
        log.info("[%d/%d] %s%s", number, len(STAGES), name, f": {detail}" if detail else "")
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = time.monotonic() - started


def run_recipe(recipe: Recipe, options: RunOptions) -> RunResult:
    if options.backend:
        recipe = dataclasses.replace(recipe, convert=dataclasses.replace(recipe.convert, backend=options.backend))
    if options.dry_run:
        return _dry_run(recipe, options)

    from ovconvert.stages import acquire, bench, cut, deploy, freeze, quantize

    out_dir = options.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_device(options.device)  # before hours of work, not after them
    # A previous run's IR must not sit beside this run's report: ir/ only ever holds what the report
    # next to it calls validated.
    for stale in ("ir", "ir-rejected", "ir-int8", "ir-int8-rejected"):
        shutil.rmtree(out_dir / stale, ignore_errors=True)
    timer = _Timer()
    record: dict[str, Any] = {"recipe": recipe.name, "family": recipe.family, "task": recipe.task,
                              "description": recipe.description, "status": "error", "timings": timer.timings,
                              "environment": environment.describe()}
    pictures, labels = {}, []  # for report.html: what each validation input looked like, class names
    known = placeholder_values(recipe, options.cache_dir, out_dir.resolve())
    recipe = expand_all(recipe, known)
    try:
        with timer.stage("acquire", _source_text(recipe)):
            acquired = acquire.acquire(recipe.source, recipe.family, options.cache_dir, options.attempts)
            values = {**known, "download_dir": str(acquired.directory), "source": str(acquired.file)}
            recipe = expand_all(recipe, values)
            freeze_spec = _frozen_graph_from_source(recipe, acquired)
            network_dir = _fetch_network_definition(recipe, options.cache_dir, out_dir, options.attempts)
        record["source"] = str(acquired.file)

        with timer.stage("freeze", freeze_spec.format):
            frozen = freeze.freeze(freeze_spec, recipe.family, out_dir, network_dir)
        record["frozen_graph"] = {"path": str(frozen.path), "nodes": frozen.node_count}

        whole_model = freeze_spec.format == "tflite"  # a .tflite is converted as it is: no cut
        family = families.get(recipe.family)
        if hasattr(family, "discover"):  # a user's own export: what its companion files say
            recipe = family.discover(recipe, frozen.path, record)
        with timer.stage("summarize"):
            summary, graph_outputs = _summarize(frozen.path, whole_model, out_dir)

        outputs = recipe.cut.outputs or frozen.outputs or graph_outputs
        if not (recipe.cut.outputs or frozen.outputs or whole_model):
            log.info("      outputs not named in the recipe; using the graph's: %s", ", ".join(outputs))
        elif not whole_model and _is_own_model(recipe, "cut.outputs", "freeze.outputs"):
            outputs = _own_outputs(frozen.path, outputs, graph_outputs, record)
        with timer.stage("cut", "none: the .tflite is converted whole" if whole_model
                         else ", ".join(recipe.cut.inputs) + " → " + ", ".join(outputs)):
            if whole_model:
                cut_graph = cut.whole_tflite(frozen.path, summary)
            else:
                cut_inputs = recipe.cut.inputs
                if hasattr(family, "resolve_cut_inputs"):
                    cut_inputs = family.resolve_cut_inputs(frozen.path, cut_inputs, outputs)
                cut_graph = cut.cut(frozen.path, cut_inputs, outputs, out_dir,
                                    prefer_graph_shapes=_is_own_model(recipe, "cut.inputs"))
                if recipe.convert.backend == "mo" and hasattr(family, "adapt_for_mo"):
                    if changed := family.adapt_for_mo(cut_graph.path, recipe.convert):
                        log.info("      adapted %d node(s) of the cut graph for mo's replacements", changed)
        record["cut"] = {"inputs": [str(s) for s in cut_graph.original_inputs], "outputs": list(cut_graph.outputs)}
        for asked, used in zip(recipe.cut.inputs, cut_graph.original_inputs):
            shape = parse_tensor_spec(asked).shape
            if shape and -1 not in shape and shape != used.shape:
                record.setdefault("discovered", []).append(
                    f"input {used.tensor_name} is {list(used.shape)} in the model (the recipe says {list(shape)})")

        ir, validation = convert_until_valid(recipe, family, frozen, cut_graph, whole_model,
                                             recipe.convert.model_name or ir_file_name(recipe.name), options,
                                             timer, record)
        result = validation.reference
        from ovconvert.stages import report_html

        pictures = report_html.pictures(validation.samples, recipe.validate.ir_channel_order)
        record["validation"] = dataclasses.asdict(result)
        record["environment"]["device"] = validation.device.to_json()
        record["precisions"] = [dataclasses.asdict(row) | {"name": row.name} for row in validation.precisions]
        log.info("      %s", result.summary())
        for line in result.reading_lines():
            log.info("      %s", line)
        if not result.passed:
            cause = getattr(family, "explain_failure", lambda *_: None)(recipe, frozen, result) \
                or "check the recipe's mean/scale/channel order"
            framework = "TFLite" if whole_model else "TensorFlow"
            rejected = _reject_ir(out_dir, record)
            raise ValidationFailed(f"{recipe.name}: the IR disagrees with {framework} at f32: "
                                   f"{'; '.join(result.failures)} — {cause} (IR kept in {rejected})")
        verdict = judge_precisions(validation, recipe, options.strict_precision)
        record["precision_warnings"] = verdict.warnings
        if verdict.failure:
            rejected = _reject_ir(out_dir, record)
            raise ValidationFailed(f"{recipe.name}: {verdict.failure} (IR kept in {rejected})")
        record["status"] = "converted"
        # What the IR expects and what its outputs mean, inside it (ovconvert predict, a served model).
        served = deploy.metadata(recipe, family, cut_graph, acquired.file)
        labels = served.get("labels") or []
        deploy.embed(ir.xml, served)
        record["ir"] = {str(ir.xml): ir.xml.stat().st_size, str(ir.bin): ir.bin.stat().st_size}
        record["metadata"] = {k: v for k, v in served.items() if k not in ("labels", "charset")}
        # The FP32 IR is validated and stays the result whatever happens below: a quantization or a
        # benchmark that fails is reported, and does not take the conversion with it.
        quantized = None
        if (options.quantize or recipe.quantize.precision) == "int8":
            with timer.stage("quantize", "int8 with NNCF"):
                try:
                    quantized = quantize.quantize(recipe, frozen, cut_graph, ir, validation, out_dir, options.device)
                    if quantized.status == "passed":
                        deploy.embed(quantized.xml, served)
                    record["int8"] = quantized.to_json()
                    quantize.log_result(quantized)
                except (ToolError, UserError) as error:
                    record["int8"] = {"status": "error", "error": error.one_line()}
                    log.warning("no INT8 IR: %s", error.one_line())
        if recipe.bench.enabled if options.bench is None else options.bench:
            with timer.stage("bench", f"batch 1 and {recipe.bench.batch}, about {recipe.bench.seconds:g} s"):
                try:
                    record["bench"] = bench.bench_run(recipe, frozen, cut_graph, whole_model, ir, validation,
                                                      quantized, options.device).to_json()
                except ToolError as error:
                    record["bench"] = {"error": error.one_line()}
                    log.warning("no speed figures: %s", error.one_line())
        if options.ovms_repo is not None:
            name = recipe.convert.model_name or ir_file_name(recipe.name)
            record["ovms"] = deploy.to_model_server(options.ovms_repo, name, ir, quantized, record.get("bench"))
        exit_code, message = EXIT_OK, f"{recipe.name}: converted and validated ({result.summary()})"
        if result.degenerate:  # agreement on meaningless answers is weak evidence: say so, last
            message = (f"{recipe.name}: TensorFlow and the IR agree, but the model's answers look "
                       f"untrained/degenerate: {result.degenerate} ({result.summary()})")
        if verdict.warnings:
            message += f"; {len(verdict.warnings)} precision warning(s) above"
    except OvconvertError as error:
        record["status"] = "validation failed" if isinstance(error, ValidationFailed) else "error"
        record["error"] = error.one_line()
        exit_code, message = error.exit_code, error.one_line()
    finally:  # also on Ctrl-C and other exceptions: an IR not validated does not stay in ir/
        from ovconvert.stages import report as report_stage

        if record["status"] != "converted" and (out_dir / "ir").exists():
            _reject_ir(out_dir, record)
        with timer.stage("report"):
            report_stage.write_report(out_dir, record, pictures, labels)
    return RunResult(recipe.name, record["status"], exit_code, message, record)


def _check_device(device: str) -> None:
    import openvino as ov

    from ovconvert.precision import probe_device

    probe_device(ov.Core(), device)


def _is_own_model(recipe: Recipe, *keys: str) -> bool:
    """The model came from --source (the user's own export), and the user did not --set these keys."""
    return "source" in recipe.user_set and not any(key in recipe.user_set for key in keys)


def _own_outputs(frozen_path: Path, outputs: tuple[str, ...], graph_outputs: tuple[str, ...], record: dict):
    """A user's own model keeps the recipe's outputs when it has them; when it has not (a retrained
    classifier ends in `final_result`) and its graph has exactly one output, that one is used."""
    from ovconvert.graph import proto
    from ovconvert.graph.tensor_spec import split_tensor_name

    names = {node.name for node in proto.read_graph_def(frozen_path).node}
    missing = [name for name in outputs if split_tensor_name(name)[0] not in names]
    if not missing or len(graph_outputs) != 1:
        return outputs  # all there, or nothing to choose from with confidence: the cut says what is wrong
    note = (f"outputs {', '.join(missing)} of the recipe are not in this graph; using its only output "
            f"{graph_outputs[0]} (found by summarize)")
    log.info("      %s", note)
    record.setdefault("discovered", []).append(note)
    return graph_outputs


def _reject_ir(out_dir: Path, record: dict) -> Path:
    """Move the IR out of ir/, so that ir/ only ever holds an IR its report calls validated."""
    rejected = out_dir / "ir-rejected"
    shutil.rmtree(rejected, ignore_errors=True)
    (out_dir / "ir").replace(rejected)
    record["ir"] = {}
    return rejected


def judge_precisions(validation, recipe: Recipe, strict: bool = False):
    """Log the precision table and a warning for each deployment precision that changes answers; strict
    (or the recipe's validate.strict_precision) makes them a failure."""
    from ovconvert.precision import judge, table_lines

    log.info("      precisions on %s (%s):", validation.device.full_name or validation.device.name,
             ", ".join(environment.cpu()["flags"]) or "no ISA flags known")
    for line in table_lines(validation.precisions, recipe.validate.metric):
        log.info("        %s", line)
    if validation.quantized_layers:
        log.info("      the IR has %d FakeQuantize layer(s): %s", validation.quantized_layers,
                 "they run in int8 here whatever the hint" if validation.device.int8
                 else "this device has no int8 support and emulates them")
    verdict = judge(validation.precisions, validation.device.name, strict or recipe.validate.strict_precision)
    for warning in verdict.warnings:
        log.warning("      warning: %s", warning)
    return verdict


def placeholder_values(recipe: Recipe, cache_dir: Path, out_dir: Path) -> dict[str, str]:
    """The placeholders known before the source is acquired (${download_dir} and ${source} come after)."""
    from ovconvert.stages.convert import mo_ext_dir

    values = {"convert_dir": str(out_dir), "cache_dir": str(cache_dir), "mo_ext_dir": str(mo_ext_dir())}
    if recipe.path:
        values["recipe_dir"] = str(Path(recipe.path).resolve().parent)
    return values




def _summarize(path: Path, tflite: bool, out_dir: Path):
    """Write summary.txt/.json; return the summary and the graph's own outputs (control-flow noise left
    out), which stand in when the recipe names none."""
    if tflite:
        summary = _summarize_tflite(path, out_dir)
        return summary, summary.output_names
    from ovconvert.graph import proto
    from ovconvert.stages import summarize

    summary = summarize.summarize(proto.read_graph_def(path))
    (out_dir / "summary.txt").write_text(summary.ov_text() + "\n" + summary.details_text(str(path)))
    (out_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2))
    log.info("      %d input(s): %s; %d output(s)", len(summary.inputs), ", ".join(summary.inputs),
             len(summary.outputs))
    return summary, tuple(o for o in summary.outputs if o not in summary.noisy_outputs)


def _summarize_tflite(path: Path, out_dir: Path):
    from ovconvert.graph.tflite import summarize_tflite

    summary = summarize_tflite(path)
    (out_dir / "summary.txt").write_text(summary.text())
    (out_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2))
    log.info("      %d input(s): %s; %d output(s); %s", len(summary.inputs), ", ".join(t.name for t in summary.inputs),
             len(summary.outputs), "int8 per-channel (TF2 converter)" if summary.per_channel_int8
             else summary.quantization_kind())
    if summary.unsupported_ops:
        ops = ", ".join(f"{op} ×{count}" for op, count in summary.unsupported_ops.items())
        raise UserError(f"{path.name} has ops OpenVINO cannot convert: {ops}; convert the model without them "
                        "(e.g. export the detector without its TFLite post-processing) or use the TensorFlow model")
    return summary


def ir_file_name(recipe_name: str) -> str:
    """The IR's file name: a variant `name@pb` gives `name-pb.xml`."""
    return recipe_name.replace("@", "-")


def _source_text(recipe: Recipe) -> str:
    source = recipe.source
    return source.url or source.path or f"builder {source.builder}"


def _frozen_graph_from_source(recipe: Recipe, acquired):
    """Settle freeze.format `auto` from the source, and let `--source model.pb` stand in for a frozen graph
    that normally comes out of an archive."""
    spec = _locate_in_archive(recipe.freeze, acquired)
    if spec.format == "auto":
        source = acquired.file
        if source.is_dir() or source.name == "saved_model.pb":
            directory = source if source.is_dir() else source.parent
            if not (directory / "saved_model.pb").is_file():
                raise UserError(f"source {source} is a directory without saved_model.pb; give a SavedModel "
                                "directory or a frozen .pb")
            spec = dataclasses.replace(spec, format="saved_model", saved_model_dir=str(directory))
        elif source.suffix == ".meta":
            spec = dataclasses.replace(spec, format="meta_graph", graph=str(source))
        elif source.suffix in (".keras", ".h5"):
            spec = dataclasses.replace(spec, format="keras", keras_model=str(source))
        elif is_tflite(source):
            spec = dataclasses.replace(spec, format="tflite", graph=str(source))
        else:
            spec = dataclasses.replace(spec, format="frozen", graph=str(source))
        log.info("      source %s: freezing as %s", source, spec.format)
    # A frozen .pb or a .tflite given as the source stands in for the file an archive would have held.
    stands_in = acquired.file.is_file() and (
        (spec.format == "frozen" and acquired.file.suffix in (".pb", ".pbtxt"))
        or (spec.format == "tflite" and is_tflite(acquired.file)))
    if stands_in and spec.graph and not Path(spec.graph).exists():
        log.info("      using %s as the model (freeze.graph %s is not there)", acquired.file, spec.graph)
        return dataclasses.replace(spec, graph=str(acquired.file))
    return spec


def _locate_in_archive(spec, acquired):
    """Archives of one family do not all nest their files alike (some put them in a folder named after
    the archive): when freeze.graph is not where the recipe says, the one file of that name anywhere in
    the unpacked archive is used, and the log says where it was."""
    if not spec.graph or Path(spec.graph).exists() or not acquired.directory.is_dir():
        return spec
    wanted = Path(spec.graph)
    if acquired.directory not in wanted.parents:
        return spec
    matches = sorted(acquired.directory.rglob(wanted.name))
    if len(matches) != 1:
        return spec
    log.info("      %s found at %s under %s", wanted.name, matches[0].relative_to(acquired.directory),
             acquired.directory)
    return dataclasses.replace(spec, graph=str(matches[0]))


def _fetch_network_definition(recipe: Recipe, cache_dir: Path, out_dir: Path, attempts: int = 3) -> Optional[Path]:
    network = recipe.freeze.network
    if network is None or not network.definition:
        return None
    from ovconvert.stages.acquire import download

    target = out_dir / "network"
    for item in network.definition:
        cached = download(item, cache_dir, attempts=attempts)
        place = target / (item.save_as or cached.name)
        if target.resolve() not in place.resolve().parents:  # the loader checks too; this is the write
            raise UserError(f"freeze.network.definition save_as {item.save_as!r} leaves {target}; give a "
                            "relative path without '..'")
        place.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, place)
    return target


def _dry_run(recipe: Recipe, options: RunOptions, comments: bool = True) -> RunResult:
    from ovconvert.graph.tensor_spec import TensorSpec, parse_tensor_spec
    from ovconvert.stages import convert
    from ovconvert.stages.cut import placeholder_name

    out_dir = options.output_dir
    if comments:
        print(f"# {recipe.name}: acquire {_source_text(recipe)}")
    if comments and recipe.freeze.format != "tflite":
        print(f"# freeze ({recipe.freeze.format}) → {out_dir / 'frozen.pb'}")
    specs = [parse_tensor_spec(text) for text in recipe.cut.inputs]
    inputs = tuple(TensorSpec(placeholder_name(s), 0, s.shape, s.dtype) for s in specs)
    outputs = recipe.cut.outputs or recipe.freeze.outputs
    recipe = expand_all(recipe, placeholder_values(recipe, options.cache_dir, out_dir))
    model = out_dir / "cut.pb"
    if recipe.freeze.format == "tflite":
        inputs, outputs, model = (), (), Path(recipe.freeze.graph)
        if comments:
            print(f"# {model.name} is converted whole (no cut)")
    elif comments:
        print(f"# cut {', '.join(recipe.cut.inputs) or '(graph inputs)'} → "
              f"{', '.join(outputs) or '(graph outputs)'} → {model}")
    convert.convert(recipe.convert, model, inputs, outputs, out_dir,
                    recipe.convert.model_name or ir_file_name(recipe.name), dry_run=True)
    return RunResult(recipe.name, "dry run", EXIT_OK, "")


def check_output_dir(path: Path, flag: str = "-o") -> None:
    """A directory we will create and write into: neither it nor any parent may be a file."""
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            what = "exists and is not a directory" if part == path else f"is under {part}, which is a file"
            raise UserError(f"{flag} {path}: {what}; choose another directory")
        if part.is_dir():
            break
