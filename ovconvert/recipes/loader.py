"""Turn recipe YAML into typed Recipe objects, with errors that name the file, the key path and the fix.

Loading happens in three steps, in this order:
  1. read the YAML mapping and apply `--set key.path=value` overrides (values are YAML, so lists work);
  2. convert it, field by field, into the frozen dataclasses of schema.py (unknown keys are errors);
  3. check what types cannot say (one source kind, a freeze format's required keys, tensor specs parse,
     mean/scale values match the channel count).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import yaml

from ovconvert.errors import UserError
from ovconvert.graph.tensor_spec import parse_tensor_spec
from ovconvert.recipes.schema import Recipe



def _registry() -> Path:
    """Where recipes are looked up by name: $OVCONVERT_RECIPES (your own registry) when set; else the
    clone's recipes/ beside the package; else the copy `pip install` puts under
    <prefix>/share/ovconvert/recipes (setup.cfg's data_files). A recipe *file* is read wherever it is."""
    if os.environ.get("OVCONVERT_RECIPES"):
        return Path(os.environ["OVCONVERT_RECIPES"]).expanduser()
    clone = Path(__file__).resolve().parents[2] / "recipes"
    if clone.is_dir():
        return clone
    return Path(sys.prefix) / "share" / "ovconvert" / "recipes"


RECIPES_DIR = _registry()
PLACEHOLDERS = ("download_dir", "convert_dir", "recipe_dir", "cache_dir", "source", "mo_ext_dir")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class RecipeError(UserError):
    def __init__(self, where: str, key: str, message: str):
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class _RecipeYamlLoader(yaml.SafeLoader):
    """YAML as recipes use it: no aliases (a few lines of nested aliases expand to billions of nodes, a
    hang even for --dry-run; recipes need none) and no key given twice (a second `convert:` section
    would silently replace the first)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(problem=f"alias *{event.anchor} (recipes do not use YAML aliases; "
                                       "write the value out)", problem_mark=event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.MarkedYAMLError(problem=f"key {key!r} given twice (merge the two)",
                                           problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(text: str):
    """Parse recipe YAML with the rules of _RecipeYamlLoader (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=_RecipeYamlLoader)  # noqa: S506 (a SafeLoader subclass)


def read_recipe_file(path: Path, where: str):
    """The YAML of a recipe file, or a RecipeError naming the file, the line and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RecipeError(where, "", f"not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    except OSError as error:
        raise RecipeError(where, "", f"cannot be read ({error.strerror}); check the path and its permissions") \
            from None
    try:
        return read_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark else "?"
        raise RecipeError(where, "", f"not valid YAML at {at}: {getattr(error, 'problem', None) or error}") \
            from None


# ---------------------------------------------------------------------------------------------- finding


def find_recipe(name_or_path: str) -> Path:
    """A path to a .yaml file, or a recipe name looked up under recipes/ (e.g. `inception_v1`, `slim/vgg_16`)."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        raise UserError(f"recipe {name_or_path} is a directory; give a recipe .yaml file or a name from "
                        "`ovconvert list` (a model goes to --source)")
    if candidate.suffix in (".yaml", ".yml"):
        if candidate.is_file():
            return candidate
        raise UserError(f"recipe file {name_or_path} not found; check the path or run `ovconvert list`")
    matches = sorted(RECIPES_DIR.rglob(f"{candidate.name}.yaml"))
    if candidate.parent != Path("."):
        matches = [m for m in matches if m.relative_to(RECIPES_DIR).with_suffix("").as_posix() == name_or_path]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        options = ", ".join(m.relative_to(RECIPES_DIR).with_suffix("").as_posix() for m in matches)
        raise UserError(f"recipe name '{name_or_path}' is ambiguous ({options}); name it as family/name")
    import difflib

    names = [p.stem for p in RECIPES_DIR.rglob("*.yaml")]
    close = difflib.get_close_matches(candidate.name, names, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(f"recipe '{name_or_path}' not found under {RECIPES_DIR}; {hint}run `ovconvert list` to see names")


def all_recipe_paths(family: Optional[str] = None) -> list[Path]:
    paths = sorted(RECIPES_DIR.rglob("*.yaml"))
    if family:
        paths = [p for p in paths if _family_of(p) == family]
    return paths


def _family_of(path: Path) -> Optional[str]:
    try:
        data = read_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None
    return data.get("family") if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------------- loading


def split_variant(name_or_path: str) -> tuple[str, Optional[str]]:
    """`mobilenet_v1_0.25_128_quant@pb` → (`mobilenet_v1_0.25_128_quant`, `pb`); no `@`: no variant."""
    base, sep, variant = name_or_path.rpartition("@")
    return (base, variant) if sep and base and "/" not in variant else (name_or_path, None)


def load_recipe(name_or_path: str, overrides: tuple[str, ...] = (), source_path: Optional[str] = None) -> Recipe:
    """Load a recipe by path or name; `NAME@VARIANT` loads one of its variants (see Recipe.variants)."""
    name_or_path, variant = split_variant(name_or_path)
    path = find_recipe(name_or_path)
    where = _display_path(path)
    raw = read_recipe_file(path, where)
    if not isinstance(raw, dict):
        raise RecipeError(where, "", f"expected a mapping of recipe keys, got {_describe(raw)}")
    raw.setdefault("name", path.stem)
    if variant is not None:
        _apply_variant(raw, variant, where)
    for override in overrides:
        _apply_override(raw, override, where)
    set_keys = {override.partition("=")[0].strip() for override in overrides}
    if source_path is not None:
        raw["source"] = {**{k: v for k, v in (raw.get("source") or {}).items() if k == "members"}, "path": source_path}
    raw["path"] = str(path)
    raw["user_set"] = sorted(set_keys | ({"source"} if source_path is not None else set()))
    try:
        recipe = _convert(raw, Recipe, where, "")
        check_recipe(recipe, where, path)
    except RecipeError as error:
        # A mistake in a --set value is the flag's, not the file's: say so.
        for key in sorted(set_keys, key=len, reverse=True):
            if str(error).startswith(f"{where}: {key}") :
                raise UserError(f"--set {key}=…: {str(error)[len(where) + 2 + len(key):].lstrip(':. ')} "
                                f"(recipe {where})") from None
        raise
    return recipe


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _apply_variant(raw: dict, variant: str, where: str) -> None:
    """Turn the raw recipe into its variant: the variant's overrides applied, named `name@variant`."""
    variants = raw.pop("variants", None) or {}
    if not isinstance(variants, dict) or variant not in variants:
        known = ", ".join(variants) if isinstance(variants, dict) and variants else "none"
        raise RecipeError(where, "variants", f"no variant {variant!r} (this recipe has: {known})")
    changes = variants[variant]
    if not isinstance(changes, dict):
        raise RecipeError(where, f"variants.{variant}", f"expected a mapping of KEY: VALUE, got {_describe(changes)}")
    for key, value in changes.items():
        _set_key(raw, str(key), value, where)
    raw["name"] = f"{raw['name']}@{variant}"


def _apply_override(raw: dict, override: str, where: str) -> None:
    key, sep, value_text = override.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {override}: expected KEY=VALUE, e.g. --set convert.mean_values=[127.5,127.5,127.5]")
    try:
        value = read_yaml(value_text) if value_text.strip() else None
    except yaml.YAMLError:
        raise UserError(f"--set {override}: the value is not valid YAML; quote it or write a list as [a,b]") from None
    _set_key(raw, key, value, where)


def _set_key(raw: dict, key: str, value: Any, where: str) -> None:
    """Set a dotted key (`convert.mean_values`) in the raw recipe mapping, creating sections as needed."""
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(where, key, f"--set cannot go inside {part}, which is {_describe(child)}")
        node = child
    node[parts[-1]] = value


def _convert(value: Any, annotation: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, where, key)
    if dataclasses.is_dataclass(annotation):
        return _convert_dataclass(value, annotation, where, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise RecipeError(where, key, f"expected {_expected(annotation)}, got {_describe(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(item, args[0], where, f"{key}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise RecipeError(where, key, f"expected {_expected(annotation)}, got {len(value)}")
        return tuple(_convert(item, a, where, f"{key}[{i}]") for i, (item, a) in enumerate(zip(value, args)))
    if origin in (collections.abc.Mapping, dict) or annotation is Mapping:
        if not isinstance(value, dict):
            raise RecipeError(where, key, f"expected a mapping, got {_describe(value)}")
        if len(args) == 2 and dataclasses.is_dataclass(args[1]):  # e.g. precision → Tolerance
            return types.MappingProxyType({str(name): _convert(item, args[1], where, _join(key, str(name)))
                                           for name, item in value.items()})
        return types.MappingProxyType(dict(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise RecipeError(where, key, f"expected true or false, got {_describe(value)}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(where, key, f"expected a whole number, got {_describe(value)}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(where, key, f"expected a number, got {_describe(value)}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise RecipeError(where, key, f"expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"schema annotation {annotation!r} at {key} is not supported by the loader")


def _convert_dataclass(value: Any, cls: type, where: str, key: str) -> Any:
    if not isinstance(value, dict):
        raise RecipeError(where, key or "(top level)", f"expected a mapping, got {_describe(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in value if k not in fields]
    if unknown:
        known = ", ".join(n for n, f in fields.items() if not f.metadata.get("internal"))
        name = unknown[0]
        raise RecipeError(where, _join(key, str(name)), f"unknown key; expected one of: {known}")
    kwargs = {}
    for name, field in fields.items():
        child = _join(key, name)
        if name not in value:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise RecipeError(where, child, "required key is missing")
            continue
        converted = _convert(value[name], hints[name], where, child)
        choices = field.metadata.get("choices")
        if choices and converted not in choices:
            raise RecipeError(where, child, f"expected one of {', '.join(choices)}, got {converted!r}")
        kwargs[name] = converted
    return cls(**kwargs)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _expected(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and args and args[-1] is not Ellipsis:
        kinds = {a for a in args}
        noun = "numbers" if kinds <= {int, float} else "values"
        return f"{len(args)} {noun}"
    if typing.get_origin(annotation) is tuple:
        return "a list"
    return str(annotation)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# ---------------------------------------------------------------------------------------- semantic checks


def check_recipe(recipe: Recipe, where: str, path: Path) -> None:
    if split_variant(recipe.name)[0] != path.stem:
        raise RecipeError(where, "name", f"expected '{path.stem}' (the file name), got {recipe.name!r}")
    for variant, changes in recipe.variants.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", variant) or not isinstance(changes, Mapping):
            raise RecipeError(where, f"variants.{variant}", "expected a name of letters, digits, _ . - "
                              "mapped to KEY: VALUE overrides")
    _check_placeholders(recipe, where)
    for precision in recipe.validate.precision_tolerance:
        if precision not in ("bf16", "f16"):
            raise RecipeError(where, f"validate.precision_tolerance.{precision}", "expected bf16 or f16 (f32 is "
                              "the reference, judged by validate.tolerance)")

    network = recipe.freeze.network
    for i, item in enumerate(network.definition if network else ()):
        if item.save_as is not None and not _stays_inside(item.save_as):
            raise RecipeError(where, f"freeze.network.definition[{i}].save_as", f"{item.save_as!r} would be "
                              "written outside the run's directory; give a relative path without '..'")

    source = recipe.source
    kinds = [k for k in ("url", "path", "builder") if getattr(source, k)]
    if len(kinds) != 1:
        raise RecipeError(where, "source", f"expected exactly one of url, path, builder, got "
                          f"{', '.join(kinds) if kinds else 'none'} (pass --source PATH for a local file)")
    if source.sha384 is not None and not re.fullmatch(r"[0-9a-f]{96}", source.sha384):
        raise RecipeError(where, "source.sha384", f"expected 96 lowercase hex digits, got {source.sha384!r}")

    freeze = recipe.freeze
    required = {
        "frozen": ("graph",), "checkpoint": ("checkpoint",), "meta_graph": ("graph",),
        "saved_model": ("saved_model_dir",), "keras": ("keras_model",), "tflite": ("graph",), "auto": (),
    }[freeze.format]
    for name in required:
        if not getattr(freeze, name):
            raise RecipeError(where, f"freeze.{name}", f"required when freeze.format is {freeze.format}")
    if freeze.format == "checkpoint" and not (freeze.graph or freeze.network):
        raise RecipeError(where, "freeze.graph", "a checkpoint needs an inference graph (freeze.graph) or a "
                          "network definition (freeze.network)")
    if freeze.format in ("checkpoint", "meta_graph") and not (freeze.outputs or recipe.cut.outputs):
        raise RecipeError(where, "freeze.outputs", "name the output nodes (freeze.outputs or cut.outputs)")
    if freeze.format == "tflite" and (recipe.cut.inputs or recipe.cut.outputs):
        raise RecipeError(where, "cut", "a .tflite model is converted whole; remove the cut section")

    specs = []
    for i, text in enumerate(recipe.cut.inputs):
        try:
            specs.append(parse_tensor_spec(text))
        except UserError as error:
            raise RecipeError(where, f"cut.inputs[{i}]", str(error)) from None

    convert = recipe.convert
    if convert.timeout_s < 1:
        raise RecipeError(where, "convert.timeout_s", f"expected seconds of at least 1, got {convert.timeout_s}")
    if recipe.validate.count < 1:
        raise RecipeError(where, "validate.count", f"expected at least 1 input to validate on, got "
                          f"{recipe.validate.count}")
    if recipe.quantize.count < 1:
        raise RecipeError(where, "quantize.count", f"expected at least 1 calibration input, got "
                          f"{recipe.quantize.count}")
    if recipe.bench.batch < 1 or recipe.bench.seconds <= 0:
        raise RecipeError(where, "bench", f"expected a batch of at least 1 and seconds above 0, got batch "
                          f"{recipe.bench.batch}, seconds {recipe.bench.seconds}")
    channels = _channels(specs, convert.layout)
    for name in ("mean_values", "scale_values"):
        values = getattr(convert, name)
        if values is not None and len(values) != channels:
            raise RecipeError(where, f"convert.{name}", f"expected {channels} numbers, got {len(values)}")
    if convert.scale is not None and convert.scale_values is not None:
        raise RecipeError(where, "convert.scale", "give scale or scale_values, not both")


def _stays_inside(relative: str) -> bool:
    """A path a recipe names for writing stays in its directory: relative, no '..', no drive."""
    path = Path(relative)
    return bool(relative) and not path.is_absolute() and ".." not in path.parts and not path.drive \
        and "\\" not in relative


def _channels(specs, layout: Optional[str]) -> int:
    """Channels of the first cut input: its last dimension (NHWC, TensorFlow's layout), or C of `layout`."""
    if specs and specs[0].shape and len(specs[0].shape) == 4:
        shape = specs[0].shape
        position = layout.lower().find("c") if layout and len(layout) == 4 else 3
        if shape[position] > 0:
            return shape[position]
    return 3


def _check_placeholders(value: Any, where: str, key: str = "") -> None:
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            _check_placeholders(getattr(value, field.name), where, _join(key, field.name))
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _check_placeholders(item, where, f"{key}[{i}]")
    elif isinstance(value, Mapping):
        for name, item in value.items():
            _check_placeholders(item, where, _join(key, str(name)))
    elif isinstance(value, str):
        for name in _PLACEHOLDER.findall(value):
            if name not in PLACEHOLDERS:
                raise RecipeError(where, key, f"unknown placeholder ${{{name}}}; use one of "
                                  + ", ".join(f"${{{p}}}" for p in PLACEHOLDERS))


def expand(text: Optional[str], **values: str) -> Optional[str]:
    """Replace ${download_dir}, ${convert_dir}, ... in one recipe string (like OMZ's $dl_dir/$conv_dir)."""
    if text is None:
        return None
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)
