"""ovconvert list [--family F]: the recipes, one line each. A recipe file that does not load is named
on stderr (with what is wrong) and the others are still listed; the exit code is then 2."""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("--family", help="only this family (slim, aocr_legacy, …)")
    parser.add_argument("--json", action="store_true",
                        help="a JSON array of {name, path, family, task, description, offline} for scripts")


def run(args) -> int:
    from ovconvert.errors import EXIT_USER_ERROR, OvconvertError
    from ovconvert.recipes.loader import RECIPES_DIR, _display_path, all_recipe_paths, read_recipe_file

    if not RECIPES_DIR.is_dir():
        print(f"ovconvert: error: no recipe registry at {RECIPES_DIR}; set OVCONVERT_RECIPES to a directory of "
              "recipe .yaml files", file=sys.stderr)
        return EXIT_USER_ERROR
    paths = all_recipe_paths(args.family)
    broken, listed = 0, []
    for path in sorted(RECIPES_DIR.rglob("*.yaml")) if not args.family else paths:
        try:
            data = read_recipe_file(path, _display_path(path))
        except OvconvertError as error:
            print(f"ovconvert: warning: {error.one_line()} (not listed)", file=sys.stderr)
            broken += 1
            continue
        data = data if isinstance(data, dict) else {}
        name = path.relative_to(RECIPES_DIR).with_suffix("").as_posix()
        description = str(data.get("description") or "").splitlines()
        listed.append({"name": name, "path": str(path), "family": data.get("family"), "task": data.get("task"),
                       "description": description[0] if description else "", "offline": _offline(path)})
        if not args.json:
            print(f"{name:40s} {str(data.get('family', '?')):12s} {str(data.get('task', '?')):15s} "
                  f"{description[0] if description else ''}")
    if args.json:
        import json

        print(json.dumps(listed, indent=2))
    elif not paths and not broken:
        print(f"no recipes{' in family ' + args.family if args.family else ''} under {RECIPES_DIR}")
    return EXIT_USER_ERROR if broken else 0


def _offline(path) -> bool | None:
    from ovconvert.check import runs_offline
    from ovconvert.errors import OvconvertError

    try:
        return runs_offline(path)
    except OvconvertError:  # a recipe that reads but does not load: unknown
        return None
