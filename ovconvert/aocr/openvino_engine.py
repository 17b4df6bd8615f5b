"""Reading words with OpenVINO: `aocr predict --engine openvino` and `aocr test --engine openvino`.

The IR is the one `recipes/aocr.yaml` makes from the model directory — exported, cut at the preprocessed
image, converted with any batch, and validated against TensorFlow on the sample words — converted once
per checkpoint and cached (a run directory under the cache, keyed by the checkpoint's fingerprint, with
a lock so that processes started together convert it once).
TensorFlow only decodes and preprocesses the images, with the very function the model was trained and
exported with, so both engines see identical pixels; step ids become text in NumPy, and English
spelling chooses among a reading's doubtful letters from the IR's per-step distributions, as on
TensorFlow (aocr/spelling.py). Doubtful and narrow words are read again at other widths, as on
TensorFlow (aocr/reread.py). The IR is compiled
pinned to f32 by default, so the strings are TensorFlow's on every CPU (docs/architecture.md,
"Precisions"); `--precision bf16` (or `device`, the device's own default) trades that for speed where the
CPU runs bf16 natively: measured on an AMX Xeon, it changed 14 of 2000 held-out readings (0.7%), with
the same accuracy (docs/aocr.md, "Speed"). `--precision int8` reads with the INT8 IR the recipe's quantize
stage makes with NNCF (the CNN in int8), and only when that passed its accuracy gate: the speed for any
x86 CPU, AVX2-only ones included, for a few strings of a hundred (docs/aocr.md, "--precision int8").

The IR takes any batch, but the CPU plugin runs a static shape 1.3–2.7× faster than a dynamic one (its
static kernels; measured on the bundled model at batch 32 and 1). So it is compiled per batch size, the
sizes rounded up (compiled_batch_size: a stream's last, short batch, the few words read again or a
person's one-word batches do not each cost a compilation of about 1.5 s), a request padded to its
size with copies of its last image (the words read again of a full batch, up to 96 rows, or `aocr
test`'s batches of 65, are read in requests of up to 32 rows / streams, not padded to a power of two).

It is compiled for throughput (PERFORMANCE_HINT THROUGHPUT), and the rows of one call are shared out
among the streams that gives, one Python thread a stream, run at once: on 2 cores, two streams of one
thread read a batch of 32 (16 each) 1.17× as fast as one stream of two threads on a quiet machine and
about 1.5× as fast beside a busy process (docs/aocr.md, "Reading with OpenVINO"): the decoder's 24 small
steps leave a second thread idle part of the time. Each request computes its rows as a single stream
would, so the strings do not change. For a model with canvas widths the threads are not pinned to
cores (ENABLE_CPU_PINNING off): each canvas's IR is compiled separately, with its own streams, and
pinned, two of them would run on the same core (measured: the two streams' parts then took turns).

A model with canvas widths (aocr/canvas.py) reads each word on a canvas cut to its width: one IR a
canvas width, converted when a word first needs it.

What is compiled is kept for the next process (OpenVINO's model cache, CACHE_DIR, a `compiled` directory
beside the IR, keyed by OpenVINO on the model, its batch size and the compile settings): a `predict` of a
few words is mostly compiling, about 2 s a batch size, and a cached one loads in about 0.8 s (measured
beside a training run, both figures; docs/aocr.md, "Reading with OpenVINO"). It reads exactly what a
fresh compilation reads, and a damaged entry is compiled again and rewritten by OpenVINO itself
(checked with a truncated and a garbage file). About 9 MB a batch size; deleting the directory is safe.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ovconvert.aocr import spelling
from ovconvert.aocr.canvas import canvas_groups
from ovconvert.aocr.charset import EOS, SPECIAL_TOKENS, Charset
from ovconvert.aocr.config import IMAGE_HEIGHT, REREAD_BELOW, SPELLING_WEIGHT
from ovconvert.aocr.reread import Preprocessor, read_encoded
from ovconvert.errors import ToolError
from ovconvert.precision import REFERENCE, Target, resolved_precision
from ovconvert.stages.bench import optimal_requests

log = logging.getLogger("ovconvert.aocr")


def _report(path: Path) -> dict:
    """A cached conversion's report.json; {} before there is one."""
    import json

    return json.loads(path.read_text()) if path.is_file() else {}


def _needs_converting(report: dict, int8: bool) -> bool:
    # (an INT8 step that failed with an error, rather than at its gate, is tried again)
    return report.get("status") != "converted" or (int8 and report.get("int8", {}).get("status", "error") == "error")


def converted_ir(model_dir: str, cache_dir: Path, int8: bool = False, canvas_width: int | None = None) -> Path:
    """The validated IR of the model in `model_dir`, converted now or found in the cache; with `int8`, its
    INT8 IR (NNCF, as `ovconvert run recipes/aocr.yaml --quantize int8` makes it), which exists only when
    it passed the recipe's accuracy gate against the FP32 IR. With `canvas_width`, the IR that reads on
    a canvas that wide (aocr/canvas.py), converted and validated the same way."""
    from ovconvert.aocr import trained
    from ovconvert.families import aocr as family
    from ovconvert.pipeline import RunOptions, run_recipe
    from ovconvert.recipes.loader import load_recipe
    from ovconvert.stages.acquire import cache_lock

    key = family.source_fingerprint("frozen_graph", {"model_dir": model_dir})
    run_dir = cache_dir / "aocr-ir" / f"{key}{f'-w{canvas_width}' if canvas_width else ''}{'-int8' if int8 else ''}"
    xml = run_dir / ("ir-int8" if int8 else "ir") / "aocr.xml"
    report_path = run_dir / "report.json"
    report = _report(report_path)
    if _needs_converting(report, int8):
        # a checkpoint that does not fit its config.json is the user's to fix (exit 2), said before the cache
        # is touched
        trained.load(model_dir)
        # Two processes reading with a fresh cache (a script running `aocr predict` on several folders at
        # once): the second waits for the first's conversion and then finds its IR, rather than write the
        # same run directory beside it.
        with cache_lock(run_dir):
            report = _report(report_path)
            if _needs_converting(report, int8):
                what = "INT8 IR (recipes/aocr.yaml --quantize int8" if int8 else "OpenVINO IR (recipes/aocr.yaml"
                log.info("converting %s to its %s%s; once, cached in %s)", model_dir, what,
                         f", on a canvas {canvas_width} pixels wide" if canvas_width else "", run_dir)
                canvas = f", canvas_width: {canvas_width}" if canvas_width else ""
                recipe = load_recipe("aocr", (f"source.builder_args={{model_dir: '{Path(model_dir).resolve()}'"
                                              f"{canvas}}}",))
                # Converted to read with, not to be judged for speed: no bench stage (seconds of timing
                # before the first word is read).
                result = run_recipe(recipe, RunOptions(run_dir, cache_dir, precisions=(), bench=False,
                                                       quantize="int8" if int8 else "none"))
                if result.exit_code:
                    raise ToolError(f"the model in {model_dir} did not convert to a validated IR: {result.message}")
                report = result.report or _report(report_path)
    if int8 and not xml.is_file():
        quantized = report.get("int8", {})
        way_out = "read with --precision f32, or bf16 where the CPU has it"
        if quantized.get("status") == "failed the gate":
            # the gate's verdict is cached with the run: asking again gives the same answer at once
            raise ToolError(f"the INT8 IR of {model_dir} failed its accuracy gate against the FP32 IR "
                            f"({'; '.join(quantized.get('failures', []))}; {run_dir / 'report.md'}); {way_out}")
        raise ToolError(f"no INT8 IR of {model_dir}: {quantized.get('error') or quantized.get('status')}; {way_out}")
    return xml


def text_and_probability(ids: np.ndarray, step_probabilities: np.ndarray, charset: Charset) -> tuple[str, float]:
    """One word: the characters before the first EOS, and the product of the step probabilities through
    the EOS (inference.text_outputs, in NumPy)."""
    ids = np.asarray(ids).reshape(-1)
    ends = np.flatnonzero(ids == EOS)
    stop = int(ends[0]) + 1 if ends.size else len(ids)
    text = "".join(charset.characters[i - SPECIAL_TOKENS] for i in ids[:stop] if i >= SPECIAL_TOKENS)
    probability = float(np.exp(np.sum(np.log(np.asarray(step_probabilities, dtype=np.float64).reshape(-1)[:stop]))))
    return text, probability


LARGEST_COMPILED_BATCH = 32


def _cost(width, rows):
    """About how long reading `rows` rows on a canvas `width` pixels wide takes, in units of one pixel
    column of one row: the IR's time a row grows with the width from about 25 columns' worth (the
    decoder's steps, which the width does not change; measured at 160 and 320 pixels)."""
    return rows * (width + 25)


def compiled_batch_size(count: int, largest: int = LARGEST_COMPILED_BATCH) -> int:
    """The static batch `count` ≤ `largest` images are read at: 1, or a multiple of a quarter of `largest`
    (8 for one stream's 32 rows, 4 for each of two streams' 16). Any batch, and the words it reads again
    (aocr/reread.py: one to three rows a word), then needs five or six compilations and is padded by less
    than a quarter of `largest` a request."""
    step = max(1, largest // 4)
    return 1 if count <= 1 else -(-count // step) * step


def _touch_tensor_data(request) -> None:
    """Read a request's tensors as arrays once, in this thread, before the streams' threads do.
    # NOTE: the first `.data` of any tensor in a process sets up a function-local static inside OpenVINO's
    # Python bindings, and that set-up runs Python code, so it lets go of the GIL part way. Two threads
    # reaching it first at once deadlock: one holds the static's guard and waits for the GIL, the other
    # holds the GIL and waits for the guard. Seen with OpenVINO 2024.6 as `aocr predict --engine openvino`
    # hanging for good at its first batch beside a training run (both stream threads in
    # `tensor.data[:] = …`, py-spy), and in 4 of 6 fresh processes whose eight threads touched `.data` at
    # once (tests/test_aocr_openvino_concurrency.py); with this first read in the reader's own thread, 0 of 8.
    """
    for tensor in (request.get_input_tensor(0), request.get_output_tensor(0)):
        tensor.data  # noqa: B018 — the property's first use is the point


class OpenVinoReader:
    """Reads batches of preprocessed images [N,32,W,C] (or encoded images) with the IR."""

    def __init__(self, trained, model_dir: str, cache_dir: Path, device: str = "CPU",
                 reread_below: float = REREAD_BELOW, precision: str = "f32", hint: str = "THROUGHPUT",
                 spelling_weight: float = SPELLING_WEIGHT):
        import openvino as ov

        self.config = trained.config
        self.charset = Charset(trained.config.charset)
        # int8: the INT8 IR, its unquantized layers pinned to f32 as the accuracy gate judged it
        self.int8 = precision == "int8"
        self.model_dir, self.cache_dir = model_dir, cache_dir
        self.core = ov.Core()
        # canvas width → its IR (aocr/canvas.py; the full width's only, for a model read at its full width),
        # each converted when first needed; the full width's now, so that a model that does not convert
        # says so before any word is read
        self.irs = {}
        self.compiled_dirs = {}  # canvas width → OpenVINO's cache of that IR compiled (the module docstring)
        self._ir(trained.config.image_width)
        self.requests = {}  # (canvas width, batch size) → infer requests (one a stream) of the IR at that batch
        self._compiling = threading.Lock()  # the streams' threads compile what they first need
        self._pool = ThreadPoolExecutor(thread_name_prefix="aocr-stream")  # one thread a stream at a time
        self.preprocess = Preprocessor(trained.config)
        self.reread_below = reread_below
        self.speller = spelling.Speller(self.charset, spelling_weight)
        # What to compile for: f32, bf16, f16, or "device" for no hint (the device's own choice: bf16 on
        # AMX/avx512_bf16 CPUs, f16 on GPUs).
        self.target = Target(device, {"device": None, "int8": REFERENCE}.get(precision, precision))
        self.runs_at = None  # what the device resolved the hint to, known after the first compile
        self.streams = None  # requests the device runs at once, known after the first compile
        # THROUGHPUT: a call's rows split across the device's streams; LATENCY: one request a call, all
        # cores on it (what benchmarks/aocr_predict.py compares with)
        self.hint = hint
        # The full width's batch-1 model, compiled now: it tells how many streams the device gives, which
        # read_pixels splits its rows by; and its tensors read here, before any stream's thread reads one.
        _touch_tensor_data(self._requests(self.config.image_width, 1)[0])

    def _ir(self, width: int):
        if width not in self.irs:
            xml = converted_ir(self.model_dir, self.cache_dir, self.int8,
                               None if width == self.config.image_width else width)
            self.irs[width] = self.core.read_model(str(xml))
            self.compiled_dirs[width] = xml.parent.parent / "compiled"  # in the IR's run directory
        return self.irs[width]

    def read_pixels(self, pixels: np.ndarray) -> list[tuple[str, float]]:
        """Fitted images [N, 32, W, C] → [(text, probability)], each read on its canvas (aocr/canvas.py).

        The rows are shared out among the device's streams so that each has about as much to read: in
        canvas order, narrowest first, each stream takes rows until it has its share of the cost (a row
        costs its canvas's width plus a decoder's share: _cost). Each stream reads its rows of one canvas
        in requests of up to LARGEST_COMPILED_BATCH / streams rows, one Python thread a stream, so the
        streams run at once. Without canvases that is the old split: one part a stream. Rows of one
        canvas are better read together than a few at a time: a request of 4 rows takes 1.6 times as
        long a row as one of 16 (the decoder's steps are many and small)."""
        pixels = np.asarray(pixels)
        if not len(pixels):
            return []
        streams, largest = self.streams, -(-LARGEST_COMPILED_BATCH // self.streams)
        groups = canvas_groups(pixels, self.config)
        for width, _ in groups:
            self._ir(width)  # converted here, in the main thread, if it is the first word on this canvas
        widths = np.concatenate([np.full(len(rows), width) for width, rows in groups])
        rows = np.concatenate([rows for _, rows in groups])
        costs = _cost(widths, 1)
        share = costs.sum() / streams
        # a row goes to the stream whose share holds the middle of its cost
        stream_of = np.minimum(((np.cumsum(costs) - costs / 2) // share).astype(int), streams - 1)
        queues = []
        for stream in range(streams):
            queue = []
            for width, _ in groups:
                mine = rows[(stream_of == stream) & (widths == width)]
                queue += [(width, compiled_batch_size(len(part), largest), part)
                          for part in (mine[start:start + largest] for start in range(0, len(mine), largest))]
            queues.append(queue)
        readings = [None] * len(pixels)
        reading = [self._pool.submit(self._read_parts, stream, queue, pixels, readings)
                   for stream, queue in enumerate(queues) if queue]
        for done in reading:
            done.result()  # (re-raises what went wrong in the thread)
        return readings

    def _read_parts(self, stream: int, queue: list, pixels: np.ndarray, readings: list) -> None:
        """One stream's parts, one after another, with its own request of each compiled model (the
        waiting is OpenVINO's, outside the GIL, so the streams run at once)."""
        for width, size, rows in queue:
            request = self._requests(width, size)[stream]
            part = pixels[rows, :, :width]
            padded = np.concatenate([part, np.repeat(part[-1:], size - len(part), axis=0)])
            request.infer([np.ascontiguousarray(padded, dtype=np.float32)])
            ids = request.get_output_tensor(0).data
            probabilities = request.get_output_tensor(1).data
            distributions = request.get_output_tensor(2).data
            for i, row in enumerate(rows):
                text, probability = text_and_probability(ids[i], probabilities[i], self.charset)
                readings[row] = self.speller(text, probability, ids[i], distributions[i])

    def _requests(self, width: int, size: int) -> list:
        """The infer requests, one a stream, of the IR of canvas `width` compiled at static batch `size`.
        The full width's batch-1 model is compiled first, by __init__: how many streams the device gives
        is known only from a compiled model, and the parts a call is split into depend on it. Every size
        gets as many requests as that one has streams, so each part has its request."""
        with self._compiling:
            return self._requests_locked(width, size)

    def _requests_locked(self, width: int, size: int) -> list:
        if (width, size) not in self.requests:
            ir = self._ir(width).clone()
            ir.reshape({ir.inputs[0].get_any_name(): [size, IMAGE_HEIGHT, width, self.config.channels]})
            # f32 unless asked otherwise: the same strings as TensorFlow on every CPU (bf16 would be the
            # default on some).
            settings = {**self.target.config(), "PERFORMANCE_HINT": self.hint,
                        "CACHE_DIR": str(self.compiled_dirs[width])}
            if self.config.canvas_widths and self.target.device == "CPU":
                settings["ENABLE_CPU_PINNING"] = False  # each canvas's IR has its own streams (module docstring)
            compiled = self.core.compile_model(ir, self.target.device, settings)
            if self.streams is None:
                self.streams = optimal_requests(compiled)
            self.requests[width, size] = [compiled.create_infer_request() for _ in range(self.streams)]
            if self.runs_at is None:
                self.runs_at = resolved_precision(compiled, self.target)
                self._say_what_it_runs_at()
        return self.requests[width, size]

    def _say_what_it_runs_at(self) -> None:
        asked, device = self.target.precision, self.target.device
        if self.int8:
            log.info("reading with the INT8 IR on %s (NNCF; it passed its accuracy gate against the FP32 IR): a "
                     "few strings may differ from TensorFlow's (--precision f32 gives exactly its strings)", device)
        elif asked not in (None, REFERENCE, self.runs_at):
            log.warning("--precision %s: %s runs it as %s here (no native %s)", asked, device, self.runs_at, asked)
        elif self.runs_at != REFERENCE:
            log.info("reading at %s on %s: a few strings may differ from TensorFlow's (--precision f32 "
                     "gives exactly its strings)", self.runs_at, device)

    def read_encoded(self, encoded_images: list[bytes]) -> list[tuple[str, float]]:
        """Encoded images → [(text, probability)]; doubtful and narrow words read again (aocr/reread.py)."""
        return read_encoded(encoded_images, self.read_pixels, self.preprocess, self.reread_below, self.speller.choose)
