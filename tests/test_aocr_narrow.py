"""A narrower CNN cut from a trained one (aocr/narrow.py, `aocr train --init-from DIR --cnn-scale S`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import train_one_step_from

tf = pytest.importorskip("tensorflow")

from ovconvert.aocr import model as model_lib  # noqa: E402
from ovconvert.aocr import narrow  # noqa: E402
from ovconvert.aocr.config import ModelConfig  # noqa: E402

CONFIG = ModelConfig(charset="0123456789", max_width=64, max_height=32, max_prediction=4, attn_num_hidden=16,
                     attn_num_layers=1, cnn_scale=0.25)


def _arrays(model) -> dict:
    return {name: value.numpy() for name, value in model_lib.checkpoint_weights(model).items()}


def _shapes(model) -> dict:
    return {name: tuple(value.shape) for name, value in model_lib.checkpoint_weights(model).items()}


def _silence_half_of_every_convolution(model, rng) -> dict:
    """Zero the kernel, bias and batch-norm scale and shift of a random half of each convolution's
    filters: after the ReLU those channels are 0 whatever the image, so they feed nothing."""
    weights = model_lib.checkpoint_weights(model)
    live = {}
    for conv in narrow.CONVOLUTIONS:
        filters = weights[f"{conv}.kernel"].shape[-1]
        dead = rng.choice(filters, filters // 2, replace=False)
        live[conv] = np.setdiff1d(np.arange(filters), dead)
        for name in (f"{conv}.kernel", f"{conv}.bias", f"{conv}_bn.gamma", f"{conv}_bn.beta"):
            if name in weights:
                value = weights[name].numpy()
                value[..., dead] = 0.0
                weights[name].assign(value)
    return live


def test_a_cnn_narrowed_to_its_live_filters_reads_exactly_as_the_wide_one():
    rng = np.random.default_rng(7)
    wide = model_lib.build(dataclasses.replace(CONFIG, cnn_scale=0.5))
    # Batch-norm statistics away from (0, 1), so importance must look through them.
    for name, value in model_lib.checkpoint_weights(wide).items():
        if name.endswith("moving_variance"):
            value.assign(rng.uniform(0.2, 3.0, value.shape).astype(np.float32))
        elif name.endswith("moving_mean"):
            value.assign(rng.normal(0, 0.5, value.shape).astype(np.float32))
    live = _silence_half_of_every_convolution(wide, rng)
    narrow_model = model_lib.build(CONFIG)
    assert narrow_model.config.cnn_filters == tuple(f // 2 for f in wide.config.cnn_filters)

    weights = narrow.narrowed_weights(_arrays(wide), _shapes(narrow_model))
    inputs = [0]  # conv1 reads the one grey channel
    for conv in narrow.CONVOLUTIONS:  # exactly the live filters, reading the live channels, in their order
        np.testing.assert_array_equal(weights[f"{conv}.kernel"],
                                      _arrays(wide)[f"{conv}.kernel"][:, :, inputs, :][..., live[conv]])
        inputs = live[conv]
    for name, variable in model_lib.checkpoint_weights(narrow_model).items():
        variable.assign(weights[name])

    images = tf.constant(rng.normal(size=(3, 32, CONFIG.image_width, 1)).astype(np.float32))
    wide_logits, _ = wide(images, training=False)
    narrow_logits, _ = narrow_model(images, training=False)
    np.testing.assert_allclose(narrow_logits.numpy(), wide_logits.numpy(), rtol=1e-4, atol=1e-5)


def test_narrowing_to_the_same_width_changes_nothing():
    model = model_lib.build(CONFIG)
    weights = _arrays(model)
    for name, value in narrow.narrowed_weights(weights, _shapes(model)).items():
        np.testing.assert_array_equal(value, weights[name])


def test_a_wider_cnn_cannot_be_cut_from_a_narrower_one():
    narrow_model = model_lib.build(CONFIG)
    wide = model_lib.build(dataclasses.replace(CONFIG, cnn_scale=0.5))
    with pytest.raises(ValueError, match="conv1 has 16 filters in the source model, 32 asked"):
        narrow.narrowed_weights(_arrays(narrow_model), _shapes(wide))


def test_train_init_from_a_wider_model_starts_from_its_strongest_filters(tiny_aocr, tmp_path, caplog):
    log = train_one_step_from(tiny_aocr, tmp_path / "narrow", caplog, {"0.125": "0.0625"})  # tiny: 0.125
    assert "to 0.0625: each convolution keeps its strongest filters" in log
