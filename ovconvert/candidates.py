"""Convert and validate, once per candidate, until an IR agrees with TensorFlow.

Most recipes have one candidate: their own mo transformations config, or none. The Object Detection
API family proposes several, because mo's ODAPI configs differ by the ODAPI release that made the
graph: the family ranks them by which fit the graph's node names (a user's export from a newer ODAPI
needs a newer config). The first IR that converts and validates is kept, and the report says which.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from ovconvert.errors import ToolError

log = logging.getLogger("ovconvert")


def convert_until_valid(recipe, family, frozen, cut_graph, whole_model: bool, model_name: str, options, timer,
                        record: dict):
    """(IR, validation) of the first candidate whose IR converts and agrees; the last candidate's when
    none does (its failures are what the pipeline reports). Records the mo command, the IR files and
    what was discovered on the way in `record`."""
    from ovconvert.stages import convert, validate

    # Any batch where the graph allows it (convert.dynamic_batch unset): tried for the families whose
    # graphs usually do, and dropped again below if a batch does not answer as one input at a time.
    try_any_batch = recipe.convert.dynamic_batch is None and getattr(family, "ANY_BATCH", False) \
        and not whole_model
    convert_spec = dataclasses.replace(recipe.convert, dynamic_batch=bool(recipe.convert.dynamic_batch)
                                       or try_any_batch)

    def run_convert(spec):
        # mo takes a .tflite whole, with no --input/--output, as OpenVINO's guide converts them; a
        # family may name other outputs for mo than the framework side compares (odapi.mo_outputs).
        outputs = getattr(family, "mo_outputs", lambda spec, names: names)(spec, cut_graph.outputs)
        made = convert.convert(spec, cut_graph.path, () if whole_model else cut_graph.inputs,
                               () if whole_model else outputs, options.output_dir, model_name)
        record["command"] = list(made.command)
        record["ir"] = {str(made.xml): made.xml.stat().st_size, str(made.bin): made.bin.stat().st_size}
        return made

    candidates = family.transformations_candidates(recipe, cut_graph.path) \
        if hasattr(family, "transformations_candidates") else [recipe.convert.transformations_config]
    describe = getattr(family, "describe_candidate", lambda candidate: Path(candidate).name)
    for attempt, transformations in enumerate(candidates):
        last = attempt == len(candidates) - 1
        # No transformations config: mo's new frontend, which takes no pipeline.config either.
        spec = dataclasses.replace(convert_spec, transformations_config=transformations,
                                   pipeline_config=convert_spec.pipeline_config if transformations else None)
        with timer.stage("convert", recipe.convert.backend):
            try:
                ir = run_convert(spec)
            except ToolError as error:
                if last:
                    raise
                log.info("      %s does not fit this graph (%s); trying %s", describe(transformations),
                         error.one_line().split(" (log:")[0], describe(candidates[attempt + 1]))
                continue
        with timer.stage("validate", f"{recipe.validate.metric} on {recipe.validate.count} input(s), "
                                     f"{options.device}"):
            validation = validate.validate(recipe, frozen, cut_graph, ir, options.device, options.precisions)
            if try_any_batch and validation.reference.batch_failure:
                note = f"the graph does not take any batch: {validation.reference.batch_failure}"
                log.info("      %s; converting again with the graph's batch", note)
                record.setdefault("discovered", []).append(note)
                ir = run_convert(dataclasses.replace(spec, dynamic_batch=False))
                validation = validate.validate(recipe, frozen, cut_graph, ir, options.device, options.precisions)
        if validation.reference.passed or last:
            break
        log.info("      the IR made with %s disagrees with TensorFlow (%s); trying %s", describe(transformations),
                 "; ".join(validation.reference.failures), describe(candidates[attempt + 1]))
    if transformations != recipe.convert.transformations_config:
        tried = ", ".join(describe(c) for c in candidates[:attempt])
        if transformations:
            note = (f"{describe(transformations)} fits this graph (the recipe names "
                    f"{describe(recipe.convert.transformations_config)}, for another ODAPI release"
                    f"{f'; {tried} did not' if tried else ''})")
        else:
            note = (f"converted by {describe(transformations)}, with TensorFlow's own post-processing: "
                    f"none of mo's transformations configs gave an IR that converts and agrees ({tried})")
        log.info("      %s", note)
        record.setdefault("discovered", []).append(note)
    return ir, validation
