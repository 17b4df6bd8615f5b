"""`ovconvert aocr predict`: image files or directories given, or image paths on stdin read in batches as
they arrive; one line out per image.

The reading itself is the engine's (`evaluate.Predictor` on TensorFlow, `OpenVinoReader` on the IR, both
reading doubtful words again: aocr/reread.py); this module feeds it the images in batches and reports
what could not be read without stopping.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("ovconvert.aocr")


def run_predict(args) -> int:
    """The images given (a directory: its images, by name), or else image paths from stdin, read in
    batches of up to --batch-size (from stdin, what has arrived is read at once, so an interactive user
    is answered line by line); one `path<TAB>text<TAB>probability` line each, in input order."""
    from ovconvert.aocr.data import readable_image
    from ovconvert.cli.aocr import load_model
    from ovconvert.cli.predict import image_paths

    given = [str(path) for path in image_paths(args.inputs)]  # a directory without images: refused before loading
    model = load_model(args)
    read = _reading_engine(args, model)
    failed = total = 0
    too_long = []  # readings longer than the model reads: the decoder ran out of steps before the word ended
    batches = (given[start:start + args.batch_size] for start in range(0, len(given), args.batch_size)) \
        if given else _stdin_batches(args.batch_size)
    for paths in batches:
        results: list = []
        for path in paths:
            try:
                import tensorflow as tf

                with tf.io.gfile.GFile(path, "rb") as handle:
                    encoded = handle.read()
            except Exception as error:  # noqa: BLE001 — any unreadable path: say so and go on
                results.append(f"<error: cannot read: {error.__class__.__name__}>")
                continue
            decodable = readable_image(encoded)
            results.append(decodable if decodable is not None else "<error: not a readable image>")
        images = [item for item in results if isinstance(item, bytes)]
        readings = iter(read(images) if images else [])
        for path, item in zip(paths, results):
            total += 1
            if isinstance(item, bytes):
                text, probability = next(readings)
                print(f"{path}\t{text}\t{probability:.4g}", flush=True)
                if len(text) > model.config.max_prediction:
                    too_long.append(path)
            else:
                failed += 1
                print(f"{path}\t{item}", flush=True)
    if too_long:
        log.warning(
            "%d reading(s) ran past the %d characters this model reads (max_prediction in its config.json), so "
            "their words are probably longer and cut short (first: %s); a model for them needs a larger "
            "--max-prediction and --max-width", len(too_long), model.config.max_prediction, too_long[0])
    if failed:  # every input was tried; the exit code still tells a script that some were not read
        from ovconvert.errors import UserError

        raise UserError(f"{failed} of {total} inputs could not be read (marked <error: …> above); fix or leave "
                        "out those paths")
    return 0


def _reading_engine(args, model):
    """A function: list of encoded images → [(text, probability)], on the engine asked for."""
    if args.engine == "openvino":
        from ovconvert.aocr.openvino_engine import OpenVinoReader
        from ovconvert.stages.acquire import default_cache_dir

        reader = OpenVinoReader(model, args.model_dir, args.cache_dir or default_cache_dir(), args.device,
                                args.reread_below, args.precision, spelling_weight=args.spelling_weight)
        return reader.read_encoded
    from ovconvert.aocr import evaluate

    return evaluate.Predictor(model, args.reread_below, args.spelling_weight)


def _stdin_batches(size: int):
    """Lines of stdin in batches of at most `size`: a batch ends when it is full or when no further line
    arrives within 50 ms (a pipe delivers its lines at once; a person typing gets an answer per line)."""
    import queue
    import threading

    lines: queue.Queue = queue.Queue(maxsize=4 * size)
    done = object()

    def feed():
        for line in sys.stdin:
            if line.strip():
                lines.put(line.strip())
        lines.put(done)

    threading.Thread(target=feed, daemon=True).start()
    while True:
        first = lines.get()
        if first is done:
            return
        batch = [first]
        while len(batch) < size:
            try:
                item = lines.get(timeout=0.05)
            except queue.Empty:
                break
            if item is done:
                yield batch
                return
            batch.append(item)
        yield batch
