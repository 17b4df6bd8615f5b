"""A wider encoder and decoder started from a trained model: `aocr train --init-from DIR --attn-num-hidden H`
with H above the source model's gives a model that reads exactly as the source does before its first step
(Net2WiderNet, Chen et al. 2016, "Net2Net: Accelerating Learning via Knowledge Transfer"), instead of an
encoder, attention and decoder that start from scratch while only the CNN carries over.

Each of the five recurrent layers (the encoder's two directions, the decoder's cells) and the attention's
hidden layer gets its own mapping from new units to old ones: the first H old units keep their place, each
extra unit copies one of them at random. Then, per weight:

    a layer's input columns (for an LSTM, each of its four gates): copied from the unit each column maps to,
        so a copy computes exactly what its original does
    a layer's output rows (what reads the unit: the next layer, the recurrence, the attention, the
        classifier): the original's row shared among its copies, so their sum is what the one unit sent

The shares are equal halves (for a unit with two copies) plus noise that sums to zero over the copies: the
sum, and so the function, is unchanged, but the copies receive different gradients and grow apart.
# NOTE: equal shares alone would keep the copies identical forever under Adam: their gradients differ only
# by a constant factor, which Adam's per-weight normalisation removes, so every update is the same.

Only LSTM models: a GRU's gates are laid out differently (aocr's --use-gru is rarely used).
"""

from __future__ import annotations

import numpy as np

LSTM_GATES = 4  # Keras' LSTM kernels are [input, forget, cell, output] blocks of `units` columns each
ENCODER_DIRECTIONS = ("encoder.forward_lstm.lstm_cell", "encoder.backward_lstm.lstm_cell")
# The outgoing rows' noise, as a share of the spread of the weights it is added to: enough for the copies
# to part within a few hundred steps, and harmless to the function, which it does not change.
SPLIT_NOISE = 0.1


class Mapping:
    """Which old unit each new unit copies, and how its outgoing rows are shared among the copies."""

    def __init__(self, source: np.ndarray, rng: np.random.Generator):
        self.source = source  # new unit → old unit
        self.copies = np.bincount(source)[source]  # how many new units share each new unit's source
        self._rng = rng

    @classmethod
    def widening(cls, old: int, new: int, rng: np.random.Generator) -> "Mapping":
        if new < old:
            raise ValueError(f"{new} units asked of a layer that has {old}: widening cannot narrow")
        return cls(np.concatenate([np.arange(old), rng.integers(0, old, new - old)]), rng)

    def then(self, other: "Mapping", width: int) -> "Mapping":
        """The mapping of [self's units, other's units], other's sources after this layer's `width` old
        units (the encoder's output: forward, then backward)."""
        return Mapping(np.concatenate([self.source, other.source + width]), self._rng)

    def inputs(self, kernel: np.ndarray, gates: int = 1) -> np.ndarray:
        """Columns [.., gates·old] → [.., gates·new]: each new unit's columns are its source's, gate by gate."""
        blocks = np.split(np.asarray(kernel), gates, axis=-1)
        return np.concatenate([block[..., self.source] for block in blocks], axis=-1)

    def outputs(self, kernel: np.ndarray) -> np.ndarray:
        """Rows [old, ..] → [new, ..]: each source row shared among its copies (see the module's docstring)."""
        kernel = np.asarray(kernel)
        rows = kernel[self.source] / self.copies.reshape(-1, *[1] * (kernel.ndim - 1))
        noise = self._rng.normal(0.0, SPLIT_NOISE * float(kernel.std()) or 1e-3, rows.shape)
        # Subtract each copy group's mean noise so that the noise over a source unit's copies sums to zero.
        group_sum = np.zeros(kernel.shape, dtype=np.float64)
        np.add.at(group_sum, self.source, noise)
        noise = noise - group_sum[self.source] / self.copies.reshape(-1, *[1] * (kernel.ndim - 1))
        return (rows + noise).astype(kernel.dtype)


def _lstm(weights: dict, widened: dict, prefix: str, units: Mapping, input_rows) -> None:
    """An LSTM layer's three weights, its units widened; `input_rows` widens its input kernel's rows."""
    widened[f"{prefix}.kernel"] = units.inputs(input_rows(weights[f"{prefix}.kernel"]), LSTM_GATES)
    widened[f"{prefix}.recurrent_kernel"] = units.inputs(units.outputs(weights[f"{prefix}.recurrent_kernel"]),
                                                         LSTM_GATES)
    widened[f"{prefix}.bias"] = units.inputs(weights[f"{prefix}.bias"], LSTM_GATES)


def widened_weights(source: dict, hidden: int, seed: int = 0) -> dict:
    """Source weights (name → array) with the encoder, the attention and the decoder widened to `hidden`
    units (--attn-num-hidden); the CNN, the embedding and the classifier's biases are returned as they are.
    Raises ValueError when `hidden` is below the source's, or the source is not an LSTM model."""
    old = np.asarray(source["decoder_cell0.recurrent_kernel"]).shape[0]
    if np.asarray(source["decoder_cell0.bias"]).shape != (LSTM_GATES * old,):  # a GRU's is [2, 3·units]
        raise ValueError("only LSTM models can be widened (not --use-gru)")
    rng = np.random.default_rng(seed)
    widened = dict(source)

    forward, backward = (Mapping.widening(old, hidden, rng) for _ in ENCODER_DIRECTIONS)
    for prefix, units in zip(ENCODER_DIRECTIONS, (forward, backward)):
        _lstm(source, widened, prefix, units, input_rows=lambda kernel: kernel)  # reads the CNN: unchanged
    encoded = forward.then(backward, old)  # the encoder's outputs, and so the attention's context

    embedding_size = np.asarray(source["target_embedding.embeddings"]).shape[1]
    layers = sorted({name.split(".")[0] for name in source if name.startswith("decoder_cell")})
    previous = None
    for layer in layers:
        units = Mapping.widening(old, hidden, rng)
        if previous is None:  # the first cell reads [embedding of the previous character, context]
            def input_rows(kernel):
                return np.concatenate([kernel[:embedding_size], encoded.outputs(kernel[embedding_size:])])
        else:
            def input_rows(kernel, below=previous):
                return below.outputs(kernel)
        _lstm(source, widened, layer, units, input_rows)
        previous = units
    top = previous

    attention = Mapping.widening(old, hidden, rng)  # keys and query are added: one mapping for both
    widened["attention_keys.kernel"] = attention.inputs(encoded.outputs(source["attention_keys.kernel"]))
    widened["attention_keys.bias"] = attention.inputs(source["attention_keys.bias"])
    widened["attention_query.kernel"] = attention.inputs(top.outputs(source["attention_query.kernel"]))
    widened["attention_score.kernel"] = attention.outputs(source["attention_score.kernel"])
    classifier = np.asarray(source["classifier.kernel"])  # reads [top cell's output, context]
    widened["classifier.kernel"] = np.concatenate([top.outputs(classifier[:old]), encoded.outputs(classifier[old:])])
    return widened
