"""The recipe schema: typed, immutable objects that the loader builds from YAML.

Every field here is a recipe key; docs/recipes.md documents each one. The loader rejects keys that are
not fields, so a typo fails loudly instead of silently changing nothing. Field metadata `doc` is what
`ovconvert show` and the docs print; `choices` restricts a string field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

FAMILIES = ("slim", "aocr", "aocr_legacy", "odapi", "tflite_quant")
TASKS = ("classification", "detection", "ocr")
# "auto": decided by what the source is (SavedModel directory, .meta, .keras/.h5, .tflite, else a frozen .pb).
# "tflite": a .tflite flatbuffer, converted as it is (nothing to freeze, nothing to cut).
FREEZE_FORMATS = ("frozen", "checkpoint", "meta_graph", "saved_model", "keras", "tflite", "auto")
BACKENDS = ("mo", "ovc")
METRICS = ("classification", "ocr", "tensors", "detection")


def choice(*values: str, doc: str = ""):
    return field(default=values[0], metadata={"choices": values, "doc": doc})


@dataclass(frozen=True)
class Download:
    """One file fetched over HTTP(S) and checked before use."""

    url: str
    sha384: Optional[str] = None
    size: Optional[int] = None
    # Where the file lands, relative to the download directory (defaults to the URL's file name).
    save_as: Optional[str] = None


@dataclass(frozen=True)
class Source:
    """Where the model comes from: exactly one of url, path, builder."""

    url: Optional[str] = None
    size: Optional[int] = None
    sha384: Optional[str] = None
    # Archive members that matter; unpacking checks they exist (globs allowed).
    members: tuple[str, ...] = ()
    path: Optional[str] = None
    builder: Optional[str] = None
    builder_args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Network:
    """A network definition to build an inference graph from, for checkpoint-only sources."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    # Python files fetched at run time when the definition is not in an installed package.
    definition: tuple[Download, ...] = ()


@dataclass(frozen=True)
class Freeze:
    format: str = choice(*FREEZE_FORMATS)
    # Frozen GraphDef (.pb, .pbtxt), inference graph or MetaGraph (.meta) for checkpoint formats.
    graph: Optional[str] = None
    checkpoint: Optional[str] = None
    network: Optional[Network] = None
    saved_model_dir: Optional[str] = None
    tags: tuple[str, ...] = ("serve",)
    signature: str = "serving_default"
    keras_model: Optional[str] = None
    # "checkpoint": restore saved values; "initializers": run the graph's own initialisers (a source
    # whose weight shard is missing still converts, with the weights its initialisers give).
    weights: str = choice("checkpoint", "initializers")
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cut:
    # Each as node:port[shape]{type}; a -1 in the shape is read from the graph's static shape.
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Convert:
    backend: str = choice(*BACKENDS)
    input_shape: Optional[tuple[tuple[int, ...], ...]] = None
    mean_values: Optional[tuple[float, ...]] = None
    scale_values: Optional[tuple[float, ...]] = None
    scale: Optional[float] = None
    reverse_input_channels: bool = False
    layout: Optional[str] = None
    compress_to_fp16: bool = False
    transformations_config: Optional[str] = None
    pipeline_config: Optional[str] = None
    extra_args: tuple[str, ...] = ()
    # Give mo --output with the cut's outputs (the cut already keeps only what they need). Off where a
    # transformations config names its own outputs (Mask R-CNN).
    mo_outputs: bool = True
    model_name: Optional[str] = None
    timeout_s: int = 600
    # The IR takes any batch: the batch dimension of every input shape is given to mo as -1 (ovc: the
    # model is reshaped), so one IR serves batch 1 and batch 32; validation checks a batch of all inputs
    # against one at a time. true: required (a graph that cannot fails validation); false: batch as
    # the graph says; unset: where the graph allows — families that can (Slim, aocr) try it, and convert
    # again with the graph's batch when a batch does not answer as one input at a time.
    dynamic_batch: Optional[bool] = None


@dataclass(frozen=True)
class Tolerance:
    min_top1_agreement: Optional[float] = None
    min_top5_overlap: Optional[float] = None
    max_abs_diff: Optional[float] = None
    # Largest |framework - IR| divided by the largest |framework| of that output.
    max_rel_diff: Optional[float] = None
    min_string_match: Optional[float] = None
    # Detection: the share of the framework's boxes (above validate.args.score_threshold) that the IR
    # finds with the same class and IoU ≥ validate.args.min_iou, and their largest score difference.
    min_detection_match: Optional[float] = None
    max_score_diff: Optional[float] = None


@dataclass(frozen=True)
class Validate:
    metric: str = choice(*METRICS)
    # "skimage" (its sample photos), "skimage:chelsea,coffee", "words" (rendered word images), or paths.
    images: tuple[str, ...] = ("skimage",)
    count: int = 8
    # The framework-side preprocessing, named by the family (e.g. slim: inception, vgg).
    preprocessing: Optional[str] = None
    image_size: Optional[tuple[int, int]] = None
    # Channel order of the raw 0-255 image given to the IR.
    ir_channel_order: str = choice("RGB", "BGR", "GRAY")
    # Decides whether the conversion is correct: the IR compiled at f32 (pinned on every CPU) against the
    # framework.
    tolerance: Tolerance = field(default_factory=Tolerance)
    # How a deployment precision (bf16, f16) is judged, per precision; without an entry, the answers must
    # not change (top-1, strings, boxes; raw tensors within 5%). See docs/architecture.md, "Precisions".
    precision_tolerance: Mapping[str, Tolerance] = field(default_factory=dict)
    # A deployment precision that changes answers fails the run (exit 1) instead of warning.
    strict_precision: bool = False
    # Family-specific settings (e.g. the OCR charset).
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Quantize:
    """INT8 through NNCF post-training quantization, kept only when it passes its own accuracy gate
    (docs/architecture.md, "INT8")."""

    # "int8": quantize the validated FP32 IR (`--quantize int8` sets it for one run); "none": do not.
    precision: str = choice("none", "int8")
    # What to calibrate on, kept apart from the validation inputs. Empty: the family's own (image
    # families: random crops of the sample photos at other places and scales, "crops:skimage"; aocr:
    # rendered words that are not validation words, "words"). Paths (images, or aocr annotation files)
    # bring the user's own data, which is what calibration is best on.
    calibration: tuple[str, ...] = ()
    count: int = 100
    # The gate: the INT8 IR against the framework, keys as in validate.tolerance. Unset: the family's
    # allowed drop (top-1 agreement ≥ 0.9, strings ≥ 0.95, boxes ≥ 0.9 with scores within 0.2,
    # tensors within 10%). Set a minimum to 1.0 to allow no drop at all.
    tolerance: Tolerance = field(default_factory=Tolerance)
    # NNCF's preset: "performance" (symmetric weights and activations; NNCF's default, and on the
    # bundled aocr model the one that keeps 99 of 100 held-out words, where "mixed" keeps 87–97) or
    # "mixed" (asymmetric activations, for models whose activations are far from zero-centred).
    preset: str = choice("performance", "mixed")
    # Node names (regular expressions) NNCF leaves in f32, for layers that lose too much in int8.
    keep_f32: tuple[str, ...] = ()
    # Operation types (as the IR's .xml names them: MatMul, Convolution, …) NNCF leaves in f32 wherever
    # they are: e.g. [MatMul] keeps a recurrent network's many small products in f32 and quantizes its CNN.
    keep_f32_types: tuple[str, ...] = ()
    # How many of the first weighted layers (convolutions and products, counted from the input in
    # topological order) stay in f32: the first layer sees the raw input, whose range int8 covers worst,
    # and on a one-channel image it is cheap anyway. 1 in the aocr recipes: INT8 read 198 of 200
    # held-out words as the FP32 IR does, against 197 with it in int8.
    keep_f32_first: int = 0
    # NNCF's bias correction: "fast" (each layer's bias shift measured on f32 inputs, NNCF's default),
    # "full" (measured with the layers before it already in int8, so the error they pass down is
    # corrected too; slower), or "auto": full for detection, fast otherwise. Measured on the AIY
    # detector: fast kept 7 of 9 boxes in place, full 9 of 9; on the bundled aocr model both read the
    # same words, full in twice the time.
    bias_correction: str = choice("auto", "fast", "full")
    # "auto": when plain post-training INT8 fails the gate, quantize again with NNCF's accuracy control
    # (layers that cost the most agreement stay f32 until the drop is within the gate's); "plain": once.
    method: str = choice("auto", "plain")
    # NNCF's overflow fix: int8 weights in 7 bits, so that CPUs without VNNI (AVX2, AVX-512 without
    # VNNI), whose int8 instructions add pairs of products in 16 bits and saturate, compute what VNNI
    # CPUs do. "all" layers (so a gate passed on one CPU holds on every CPU), "first" layer only
    # (NNCF's default), or "none".
    overflow_fix: str = choice("all", "first", "none")


@dataclass(frozen=True)
class Bench:
    """The benchmark stage: the IR against the framework in one process (docs/architecture.md, "Bench")."""

    # On in `ovconvert run`; `check` runs it only with --bench.
    enabled: bool = True
    # The batch of the throughput rows (the IR is reshaped when it takes any batch; otherwise N requests).
    batch: int = 32
    # Time spent measuring, all configurations together, after warm-up.
    seconds: float = 6.0


@dataclass(frozen=True)
class Recipe:
    name: str
    family: str = choice(*FAMILIES)
    task: str = choice(*TASKS)
    description: str = ""
    license: str = ""
    source: Source = field(default_factory=Source)
    freeze: Freeze = field(default_factory=Freeze)
    cut: Cut = field(default_factory=Cut)
    convert: Convert = field(default_factory=Convert)
    validate: Validate = field(default_factory=Validate)
    quantize: Quantize = field(default_factory=Quantize)
    bench: Bench = field(default_factory=Bench)
    notes: str = ""
    # Further conversions of the same source, run after the main one: variant name → `--set`-style
    # overrides ({"freeze.graph": ..., "cut.inputs": [...]}). Run one alone as `recipe@variant`.
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Set by the loader, not by the YAML.
    path: Optional[str] = field(default=None, metadata={"internal": True})
    # What the user gave on the command line: "source" for --source, and each --set key. Facts read from
    # a user's own model (its input shape, its outputs) replace recipe values only where the user did not
    # set them.
    user_set: tuple[str, ...] = field(default=(), metadata={"internal": True})
