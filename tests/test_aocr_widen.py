"""A wider encoder and decoder grown from a trained model (aocr/widen.py, `aocr train --init-from DIR
--attn-num-hidden H`)."""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest

from conftest import train_one_step_from

tf = pytest.importorskip("tensorflow")

from ovconvert.aocr import model as model_lib  # noqa: E402
from ovconvert.aocr import widen  # noqa: E402
from ovconvert.aocr.config import ModelConfig  # noqa: E402

CONFIG = ModelConfig(charset="0123456789", max_width=64, max_height=32, max_prediction=4, attn_num_hidden=12,
                     attn_num_layers=2, cnn_scale=0.25)


def _arrays(model) -> dict:
    return {name: value.numpy() for name, value in model_lib.checkpoint_weights(model).items()}


def _randomized(model, rng):
    """Weights far from their initial values (biases and batch-norm statistics included), so that a
    mapping that drops or misplaces a row shows in the logits."""
    for name, value in model_lib.checkpoint_weights(model).items():
        if name.endswith("moving_variance"):
            value.assign(rng.uniform(0.5, 2.0, value.shape).astype(np.float32))
        else:
            value.assign(rng.normal(0, 0.3, value.shape).astype(np.float32))
    return model


@pytest.mark.parametrize("hidden", [24, 17])  # twice as wide, and a width that copies only some units
def test_a_widened_model_reads_exactly_as_its_source(hidden):
    rng = np.random.default_rng(3)
    source = _randomized(model_lib.build(CONFIG), rng)
    wide = model_lib.build(dataclasses.replace(CONFIG, attn_num_hidden=hidden))
    weights = widen.widened_weights(_arrays(source), hidden)
    for name, variable in model_lib.checkpoint_weights(wide).items():
        variable.assign(weights[name])  # every weight has the wide model's shape
    images = tf.constant(rng.uniform(0, 1, (3, 32, CONFIG.image_width, 1)).astype(np.float32))
    source_logits, source_attention = source(images, training=False)
    wide_logits, wide_attention = wide(images, training=False)
    assert np.abs(source_logits.numpy()).max() > 1  # not a degenerate comparison of near-zero outputs
    np.testing.assert_allclose(wide_logits.numpy(), source_logits.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(wide_attention.numpy(), source_attention.numpy(), rtol=1e-4, atol=1e-5)


def test_copies_of_a_unit_share_its_rows_unequally_so_they_can_grow_apart():
    rng = np.random.default_rng(4)
    kernel = rng.normal(0, 1, (12, 40)).astype(np.float32)
    mapping = widen.Mapping.widening(12, 30, rng)
    rows = mapping.outputs(kernel)
    assert rows.shape == (30, 40)
    for unit in range(12):  # the copies' rows add up to the unit's row
        np.testing.assert_allclose(rows[mapping.source == unit].sum(axis=0), kernel[unit], rtol=1e-5, atol=1e-5)
    copied = next(unit for unit in range(12) if (mapping.source == unit).sum() > 1)
    first, second = rows[mapping.source == copied][:2]
    assert not np.allclose(first, second, atol=1e-3)  # equal halves would stay equal under Adam
    columns = mapping.inputs(np.tile(kernel.T[:, :12], (1, 4)), gates=4)  # a unit's inputs are copied
    assert columns.shape == (40, 120)
    np.testing.assert_array_equal(columns[:, 30 + 12:30 + 30], kernel.T[:, mapping.source[12:]])


def test_widening_cannot_narrow_nor_widen_a_gru():
    source = _arrays(model_lib.build(CONFIG))
    with pytest.raises(ValueError, match="cannot narrow"):
        widen.widened_weights(source, 8)
    gru = _arrays(model_lib.build(dataclasses.replace(CONFIG, use_gru=True)))
    with pytest.raises(ValueError, match="only LSTM"):
        widen.widened_weights(gru, 24)


def test_train_init_from_a_narrower_model_widens_it(tiny_aocr, tmp_path, caplog):
    log = train_one_step_from(tiny_aocr, tmp_path / "wide", caplog, {"16": "24"})  # tiny: 16 units
    assert "from 16 to 24 units; it reads as before" in log
