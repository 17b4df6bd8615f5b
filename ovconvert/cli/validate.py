"""ovconvert validate RECIPE --run-dir DIR: compare a finished run's IR with TensorFlow again."""

from __future__ import annotations

from pathlib import Path

from ovconvert.cli import add_precision_options, add_recipe_overrides


def add_arguments(parser) -> None:
    parser.add_argument("recipe", help="recipe file or name the run was made with")
    parser.add_argument("--run-dir", type=Path, required=True, help="the run's output directory")
    add_precision_options(parser)
    add_recipe_overrides(parser)


def run(args) -> int:
    from ovconvert.pipeline import judge_precisions
    from ovconvert.precision import REFERENCE

    finished = load_finished_run(args)
    validation = finished.validate(args.device, args.precision)
    print(f"{validation.reference.summary()} at {REFERENCE}")
    if not validation.reference.passed:
        return 1
    verdict = judge_precisions(validation, finished.recipe, args.strict_precision)
    if verdict.failure:
        print(f"ovconvert: error: {finished.recipe.name}: {verdict.failure}")
        return 1
    return 0


class FinishedRun:
    """A finished `ovconvert run` read back from its directory: the recipe (placeholders filled as the
    run filled them), the frozen graph, the cut and the validated IR."""

    def __init__(self, recipe, frozen, cut, ir, report: dict, run_dir: Path):
        self.recipe, self.frozen, self.cut, self.ir, self.report, self.run_dir = recipe, frozen, cut, ir, report, run_dir

    def validate(self, device: str, precisions):
        from ovconvert.stages.validate import validate

        return validate(self.recipe, self.frozen, self.cut, self.ir, device, precisions)


def load_finished_run(args) -> FinishedRun:
    """`args.recipe` and `args.run_dir` (and `args.overrides`) → FinishedRun, or a UserError saying what is
    missing. Shared by `validate` and `bench`."""
    import json

    from ovconvert.errors import UserError
    from ovconvert.graph.tensor_spec import TensorSpec, parse_tensor_spec
    from ovconvert.pipeline import expand_all, ir_file_name, placeholder_values
    from ovconvert.recipes.loader import load_recipe
    from ovconvert.stages.acquire import default_cache_dir
    from ovconvert.stages.convert import IR
    from ovconvert.stages.cut import CutGraph, placeholder_name
    from ovconvert.stages.freeze import FrozenGraph

    recipe = load_recipe(args.recipe, tuple(args.overrides))
    report_path = args.run_dir / "report.json"
    if not report_path.is_file():
        raise UserError(f"{args.run_dir} has no report.json; give the directory of an `ovconvert run`")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        cut_record, frozen_path = report["cut"], Path(report["frozen_graph"]["path"])
        originals = tuple(parse_tensor_spec(s) for s in cut_record["inputs"])
        outputs = tuple(cut_record["outputs"])
    except (ValueError, KeyError, TypeError, UserError):
        raise UserError(f"{report_path} is not the report of a finished `ovconvert run` (unreadable or "
                        "incomplete); run the recipe again") from None
    values = placeholder_values(recipe, default_cache_dir(), args.run_dir.resolve())
    recipe = expand_all(recipe, {**values, "download_dir": str(frozen_path.parent), "source": str(frozen_path)})
    name = recipe.convert.model_name or ir_file_name(recipe.name)
    xml = args.run_dir / "ir" / f"{name}.xml"
    if not xml.is_file():
        raise UserError(f"{xml} not found; the run did not produce a validated IR (see {args.run_dir}/report.md)")
    cut = CutGraph(args.run_dir / "cut.pb", tuple(TensorSpec(placeholder_name(s), 0, s.shape, s.dtype)
                                                     for s in originals), outputs, originals)
    frozen = FrozenGraph(frozen_path, outputs, 0)
    return FinishedRun(recipe, frozen, cut, IR(xml, xml.with_suffix(".bin"), (), Path(), 0.0), report, args.run_dir)
