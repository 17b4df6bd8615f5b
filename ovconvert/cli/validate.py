"""ovconvert validate RECIPE --run-dir DIR: compare a finished run's IR with TensorFlow again."""

from __future__ import annotations

from pathlib import Path

from ovconvert.cli import add_recipe_overrides


def add_arguments(parser) -> None:
    parser.add_argument("recipe", help="recipe file or name the run was made with")
    parser.add_argument("--run-dir", type=Path, required=True, help="the run's output directory")
    add_recipe_overrides(parser)


def run(args) -> int:
    import json

    from ovconvert.errors import UserError
    from ovconvert.graph.tensor_spec import TensorSpec, parse_tensor_spec
    from ovconvert.pipeline import ir_file_name
    from ovconvert.recipes.loader import load_recipe
    from ovconvert.stages.convert import IR
    from ovconvert.stages.cut import CutGraph, placeholder_name
    from ovconvert.stages.freeze import FrozenGraph
    from ovconvert.stages.validate import validate

    recipe = load_recipe(args.recipe, tuple(args.overrides))
    report_path = args.run_dir / "report.json"
    if not report_path.is_file():
        raise UserError(f"{args.run_dir} has no report.json; give the directory of an `ovconvert run`")
    report = json.loads(report_path.read_text())
    name = recipe.convert.model_name or ir_file_name(recipe.name)
    xml = args.run_dir / "ir" / f"{name}.xml"
    if not xml.is_file():
        raise UserError(f"{xml} not found; the run did not produce a validated IR (see {args.run_dir}/report.md)")
    originals = tuple(parse_tensor_spec(s) for s in report["cut"]["inputs"])
    cut = CutGraph(args.run_dir / "cut.pb", tuple(TensorSpec(placeholder_name(s), 0, s.shape, s.dtype)
                                                     for s in originals),
                   tuple(report["cut"]["outputs"]), originals)
    frozen = FrozenGraph(Path(report["frozen_graph"]["path"]), tuple(report["cut"]["outputs"]), 0)
    result = validate(recipe, frozen, cut, IR(xml, xml.with_suffix(".bin"), (), Path(), 0.0))
    print(result.summary())
    return 0 if result.passed else 1
