"""Exports of the original aocr (github emedvedev/attention-ocr, TF1), converted as OpenVINO's tutorial
describes: cut at the preprocessed image `map/TensorArrayStack/TensorArrayGatherV3:0` [1,32,W,1], outputs
`transpose_1` (character ids, one per decode step) and `transpose_2` (their probabilities).

aocr users often train with other --max-width/--max-height/--max-prediction: the cut width W
(ceil(max_width / max_height * 32)) and the number of decode steps then differ. The recipe leaves W as
-1, and the cut stage reads it from the graph and logs it; the step count follows from the graph itself.

Validation feeds rendered words as PNG bytes to the *whole* TensorFlow graph (its own decoding and
resizing) and hands the tensor TensorFlow computes at the cut point to the IR, so the comparison covers
the cut as well as the conversion; both sides' ids are decoded with aocr's charset and compared as text.
"""

from __future__ import annotations

import numpy as np

from ovconvert.errors import UserError
from ovconvert.families import words
from ovconvert.graph.tf_graph import import_graph

# aocr's DataGen.CHARMAP: PAD, GO, EOS, then the charset.
PAD, GO, EOS = 0, 1, 2
DEFAULT_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STRING_INPUT = "input_image_as_bytes:0"


def decode(outputs, recipe) -> str:
    """Character ids (the first output, [1, steps]) → text, stopping at EOS as aocr does."""
    charset = recipe.validate.args.get("charset", DEFAULT_CHARSET)
    text = []
    for index in np.asarray(outputs[0]).reshape(-1).astype(int):
        if index == EOS:
            break
        if index > EOS:
            text.append(charset[index - 3] if index - 3 < len(charset) else "?")
    return "".join(text)


def validation_samples(recipe, frozen, cut) -> list:
    texts = list(recipe.validate.args.get("words", words.SAMPLE_WORDS))[:recipe.validate.count]
    return samples_through_graph(frozen.path, cut, STRING_INPUT,
                                 [(text, words.png_bytes(words.render(text)), text) for text in texts])


def samples_through_graph(frozen_path, cut, string_input: str, images: list[tuple[str, bytes, str]]) -> list:
    """Validation samples for a graph that takes encoded images: TensorFlow reads each (name, bytes,
    label) through the whole graph, and the IR gets the tensor TensorFlow computed at the cut. Shared by
    the aocr families (original exports and ovconvert's own)."""
    import tensorflow as tf

    from ovconvert.stages.validate import Sample

    graph = import_graph(frozen_path)
    try:
        string_tensor = graph.get_tensor_by_name(string_input)
    except KeyError:
        raise UserError(f"the graph has no {string_input}; is it an aocr export? (aocr recipes need one)") \
            from None
    batched = string_tensor.shape.rank == 1
    cut_tensors = [spec.tensor_name for spec in cut.original_inputs]
    samples = []
    with tf.compat.v1.Session(graph=graph) as session:
        for name, data, label in images:
            feed = {string_input: [data] if batched else data}
            ir_inputs = session.run(cut_tensors, feed_dict=feed)
            samples.append(Sample(name, feed, [np.asarray(v, dtype=np.float32) for v in ir_inputs], label=label))
    return samples


def resolve_cut_inputs(frozen_path, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> tuple[str, ...]:
    """The cut's shape as the graph computes it, found by running one word image through the graph: aocr
    pads its images inside a while loop, so TensorFlow's static shapes do not know the width. Unknown
    dimensions (-1) are filled, and a dimension the graph computes differently replaces the recipe's (an
    aocr fork exported with --color has 3 channels where the recipe says 1). Logs what it found."""
    import logging

    import tensorflow as tf

    from ovconvert.graph.tensor_spec import parse_tensor_spec

    specs = [parse_tensor_spec(text) for text in inputs]
    graph = import_graph(frozen_path)
    string_input = graph.get_tensor_by_name(STRING_INPUT)
    data = words.png_bytes(words.render("PROBE"))
    feed = {STRING_INPUT: [data] if string_input.shape.rank == 1 else data}
    with tf.compat.v1.Session(graph=graph) as session:
        values = session.run([s.tensor_name for s in specs] + [f"{name}:0" for name in outputs], feed_dict=feed)
    resolved = []
    for spec, value in zip(specs, values):
        shape = tuple(value.shape)
        if spec.shape and len(spec.shape) == len(shape) and any(d not in (-1, v) for d, v in zip(spec.shape, shape)):
            logging.getLogger("ovconvert").info("      aocr export: the graph computes %s as %s, not the recipe's %s "
                                                "(another --color/size); using the graph's", spec.tensor_name,
                                                list(shape), list(spec.shape))
        resolved.append(str(spec.with_shape(shape if spec.shape is None or len(spec.shape) == len(shape)
                                            else spec.shape)))
    steps = values[len(specs)].shape[-1] if outputs else "?"
    logging.getLogger("ovconvert").info(
        "      aocr export: cut input %s (image width %s), %s decode steps", resolved[0], resolved_width(resolved[0]),
        steps)
    return tuple(resolved)


def resolved_width(spec_text: str) -> int:
    from ovconvert.graph.tensor_spec import parse_tensor_spec

    return parse_tensor_spec(spec_text).shape[2]


CALIBRATION = ("words",)


def calibration_samples(recipe, frozen, cut) -> list:
    """INT8 calibration inputs: rendered random strings of aocr's default charset (0-9, A-Z), none of
    them a validation word."""
    rng = np.random.default_rng(1234)
    alphabet = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    texts = ["".join(rng.choice(alphabet, size=int(rng.integers(2, 11)))) for _ in range(recipe.validate.count)]
    return samples_through_graph(frozen.path, cut, STRING_INPUT,
                                 [(text, words.png_bytes(words.render(text, int(rng.choice((32, 48, 64))))), text)
                                  for text in texts])
