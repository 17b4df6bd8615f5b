"""Inference shared by test, predict, export and the SavedModel: the model in inference mode (batch
norm uses its moving averages, dropout off: aocr #34), greedy decoding, and turning step ids into text.

What `probability` means: the product of the probabilities of the characters read and of the EOS that
ends the word (each the softmax probability of the argmax at its step), i.e. the model's probability of
this exact reading under greedy decoding. `char_probabilities` gives each character's own probability.
"""

from __future__ import annotations

import tensorflow as tf

from ovconvert.aocr.charset import EOS, SPECIAL_TOKENS
from ovconvert.aocr.config import ModelConfig


def step_outputs(model, images):
    """Per-step ids [N,S] (int32), their probabilities [N,S], attention [N,S,T], and every character's
    probability [N,S,C] (what aocr/spelling.py chooses among)."""
    logits, attention = model(images, training=False)
    probabilities = tf.nn.softmax(logits, axis=-1)
    ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return ids, tf.reduce_max(probabilities, axis=-1), attention, probabilities


def text_outputs(ids, step_probabilities, config: ModelConfig):
    """(text [N] string, probability [N], char_probabilities [N,S]) from step outputs, in TensorFlow."""
    vocabulary = tf.constant([""] * SPECIAL_TOKENS + list(config.charset))
    is_eos = tf.cast(tf.equal(ids, EOS), tf.int32)
    before_eos = tf.equal(tf.cumsum(is_eos, axis=1, exclusive=True) + is_eos, 0)
    through_eos = tf.equal(tf.cumsum(is_eos, axis=1, exclusive=True), 0)
    is_character = tf.logical_and(before_eos, ids >= SPECIAL_TOKENS)
    characters = tf.where(is_character, tf.gather(vocabulary, ids), "")
    text = tf.strings.reduce_join(characters, axis=1)
    log_probability = tf.reduce_sum(tf.where(through_eos, tf.math.log(step_probabilities), 0.0), axis=1)
    char_probabilities = tf.where(is_character, step_probabilities, 0.0)
    return text, tf.exp(log_probability), char_probabilities
