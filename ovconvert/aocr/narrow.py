"""A narrower CNN started from a trained one: `aocr train --init-from DIR --cnn-scale S` with S below the
source model's keeps, in every convolution, the source's strongest filters (structured filter pruning,
Li et al. 2017, "Pruning Filters for Efficient ConvNets") instead of starting the CNN from scratch.

    conv1 … conv7: keep the `filters` output channels of largest importance, and of the kernel only the
                   input channels the previous convolution kept (pooling and ReLU keep channels as they are)
    encoder LSTMs: keep the rows of their input kernels that read the channels conv7 kept
    everything else (the encoder's recurrence, the decoder, the classifier): copied as it is

A filter's importance is the L1 norm of its kernel, times |gamma| / sqrt(moving variance + epsilon) where a
batch norm follows: what the filter adds to the next layer's input, up to the shift the ReLU sees.
The narrowed model reads worse than its source until it is fine-tuned, but from far closer than random
weights: it is how a model of the same family is made cheaper to run (the CNN is most of the IR's time).
"""

from __future__ import annotations

import numpy as np

CONVOLUTIONS = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7")
ENCODER_INPUT_KERNELS = ("encoder.forward_lstm.lstm_cell.kernel", "encoder.backward_lstm.lstm_cell.kernel")
BATCH_NORM_EPSILON = 1e-3  # Keras' default, which model._conv keeps


def filter_importance(weights: dict, conv: str) -> np.ndarray:
    """One number per output channel of `conv`: how much that filter feeds the next layer."""
    kernel = np.asarray(weights[f"{conv}.kernel"])
    importance = np.abs(kernel).sum(axis=(0, 1, 2))
    if f"{conv}_bn.gamma" in weights:
        gamma = np.asarray(weights[f"{conv}_bn.gamma"])
        variance = np.asarray(weights[f"{conv}_bn.moving_variance"])
        importance = importance * np.abs(gamma) / np.sqrt(variance + BATCH_NORM_EPSILON)
    return importance


def narrowed_weights(source: dict, target_shapes: dict) -> dict:
    """Source weights (name → array) with the CNN cut down to the filter counts of `target_shapes`
    (name → shape) by keeping each convolution's most important filters; names outside the CNN and the
    encoder's input kernels are returned as they are (the caller copies what fits, as for any
    --init-from). Raises ValueError when the target's CNN is wider than the source's."""
    narrowed = dict(source)
    kept_inputs = None  # the channels the previous convolution kept (all of conv1's input)
    for conv in CONVOLUTIONS:
        kernel = np.asarray(source[f"{conv}.kernel"])
        wanted = target_shapes[f"{conv}.kernel"][-1]
        if wanted > kernel.shape[-1]:
            raise ValueError(f"{conv} has {kernel.shape[-1]} filters in the source model, {wanted} asked: "
                             "a narrower CNN can be cut from a wider one, not the other way round")
        # The strongest filters, kept in their original order (so a full-width "narrowing" is the identity).
        kept = np.sort(np.argsort(-filter_importance(source, conv), kind="stable")[:wanted])
        if kept_inputs is not None:
            kernel = kernel[:, :, kept_inputs, :]
        narrowed[f"{conv}.kernel"] = kernel[..., kept]
        for name in (f"{conv}.bias", f"{conv}_bn.gamma", f"{conv}_bn.beta", f"{conv}_bn.moving_mean",
                     f"{conv}_bn.moving_variance"):
            if name in source:
                narrowed[name] = np.asarray(source[name])[kept]
        kept_inputs = kept
    # The CNN's output row [N,1,T,F] feeds the encoder: its input kernels have one row per channel.
    for name in ENCODER_INPUT_KERNELS:
        narrowed[name] = np.asarray(source[name])[kept_inputs, :]
    return narrowed
