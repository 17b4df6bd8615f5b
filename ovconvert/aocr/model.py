"""The attention-OCR network, Keras 3 layers on the TensorFlow backend.

    image [N,32,W,C] → aocr's CNN → one row of features [N,T,F] (T = 22 at the default width 86)
      → bidirectional LSTM encoder [N,T,2H]
      → attention decoder: for each of `decode_steps` steps, the previous character's embedding and the
        previous attention context go through a stack of LSTM (or GRU) cells; additive attention over
        the encoder outputs gives the new context; a dense layer gives the character logits.

The decode loop is unrolled in Python over a fixed number of steps.
# NOTE: a fixed, unrolled loop is what OpenVINO converts and runs; measured with OpenVINO 2024.6, a
# dynamic-size TensorArray decoder converts but crashes at inference (SIGFPE), and mo's legacy frontend
# silently runs every step of an early-stopping loop.
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf
from keras import layers

from ovconvert.aocr.charset import GO
from ovconvert.aocr.config import ModelConfig


def _conv(filters: int, kernel: int, batch_norm: bool, name: str) -> list:
    block = [layers.Conv2D(filters, kernel, padding="same", use_bias=not batch_norm, name=name)]
    if batch_norm:
        # synchronized: under tf.distribute the batch statistics (and so the moving averages) are taken
        # over the global batch, so every replica ends with the same model; a no-op on one device.
        block.append(layers.BatchNormalization(synchronized=True, name=f"{name}_bn"))
    block.append(layers.ReLU(name=f"{name}_relu"))
    return block


def _pool(height: int, width: int, name: str):
    return layers.MaxPooling2D((height, width), strides=(height, width), padding="same", name=name)


MODEL_NAME = "aocr"


class AttentionOcr(keras.Model):
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        f1, f2, f3, f4, f5, f6, f7 = config.cnn_filters
        # aocr's CNN: height 32 → 1 by pooling, width 86 → 22 (two 2×2 pools with 'same' padding).
        self.cnn = [
            *_conv(f1, 3, False, "conv1"), _pool(2, 2, "pool1"),
            *_conv(f2, 3, False, "conv2"), _pool(2, 2, "pool2"),
            *_conv(f3, 3, True, "conv3"), *_conv(f4, 3, True, "conv4"), _pool(2, 1, "pool3"),
            *_conv(f5, 3, True, "conv5"), *_conv(f6, 3, True, "conv6"), _pool(2, 1, "pool4"),
            *_conv(f7, 2, True, "conv7"), _pool(2, 1, "pool5"),
        ]
        self.cnn_dropout = layers.Dropout(config.dropout, name="cnn_dropout")
        hidden = config.attn_num_hidden
        recurrent = layers.GRU if config.use_gru else layers.LSTM
        self.encoder = layers.Bidirectional(recurrent(hidden, return_sequences=True, name="lstm"), name="encoder")
        self.embedding = layers.Embedding(config.charset_object.num_classes, config.target_embedding_size,
                                          name="target_embedding")
        cell = layers.GRUCell if config.use_gru else layers.LSTMCell
        self.decoder_cells = [cell(hidden, name=f"decoder_cell{i}") for i in range(config.attn_num_layers)]
        self.attention_keys = layers.Dense(hidden, name="attention_keys")
        self.attention_query = layers.Dense(hidden, use_bias=False, name="attention_query")
        self.attention_score = layers.Dense(1, use_bias=False, name="attention_score")
        self.classifier = layers.Dense(config.charset_object.num_classes, name="classifier")

    def encode(self, images, training=False):
        features = images
        for layer in self.cnn:
            features = layer(features, training=training)
        features = self.cnn_dropout(features, training=training)
        features = tf.squeeze(features, axis=1)  # [N, 1, T, F] → [N, T, F]
        return self.encoder(features, training=training)

    def _initial_states(self, batch):
        hidden = self.config.attn_num_hidden
        zeros = tf.zeros([batch, hidden])
        return [zeros if self.config.use_gru else [zeros, zeros] for _ in self.decoder_cells]

    def decode(self, encoded, teacher_targets=None, training=False):
        """Logits [N,S,C] and attention weights [N,S,T]. With `teacher_targets` [N,S] the previous
        character fed at each step is the true one (training); without, the argmax (greedy inference)."""
        batch = tf.shape(encoded)[0]
        keys = self.attention_keys(encoded)
        context = tf.zeros([batch, encoded.shape[-1]])
        states = self._initial_states(batch)
        previous = tf.fill([batch], GO)
        all_logits, all_attention = [], []
        for step in range(self.config.decode_steps):
            cell_input = tf.concat([self.embedding(previous), context], axis=-1)
            for index, cell in enumerate(self.decoder_cells):
                cell_input, states[index] = cell(cell_input, states[index], training=training)
                if self.config.use_gru and isinstance(states[index], (list, tuple)):
                    states[index] = states[index][0]
            query = self.attention_query(cell_input)[:, tf.newaxis, :]
            scores = tf.squeeze(self.attention_score(tf.tanh(keys + query)), axis=-1)
            weights = tf.nn.softmax(scores, axis=-1)
            context = tf.reduce_sum(weights[:, :, tf.newaxis] * encoded, axis=1)
            logits = self.classifier(tf.concat([cell_input, context], axis=-1))
            all_logits.append(logits)
            all_attention.append(weights)
            if teacher_targets is not None:
                previous = teacher_targets[:, step]
            else:
                previous = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return tf.stack(all_logits, axis=1), tf.stack(all_attention, axis=1)

    def call(self, images, teacher_targets=None, training=False):
        return self.decode(self.encode(images, training=training), teacher_targets, training=training)


def build(config: ModelConfig) -> AttentionOcr:
    """A model with its weights created (so a checkpoint can be restored into it)."""
    model = AttentionOcr(config, name=MODEL_NAME)
    model(tf.zeros([1, 32, config.image_width, config.channels]))
    return model


@contextlib.contextmanager
def unrolled_encoder(model: AttentionOcr):
    """Within this block, graphs traced from `model` run the encoder's recurrence as one step per time
    step instead of a While loop. Same weights and arithmetic; only exports use it.
    # NOTE: OpenVINO 2024.6 keeps the encoder's While loop as two Loop ops (one per direction) and runs
    # their body step by step; measured on the bundled model at batch 1, they were 40% of the IR's time
    # (9.5 of 22.5 ms on a busy 2-core CPU), and unrolled the IR took 12 ms instead of 26 while
    # TensorFlow's time did not change. The width, and so the number of steps, is fixed by the config.
    """
    directions = (model.encoder.forward_layer, model.encoder.backward_layer)
    before = [layer.unroll for layer in directions]
    for layer in directions:
        layer.unroll = True
    try:
        yield model
    finally:
        for layer, unroll in zip(directions, before):
            layer.unroll = unroll


def checkpoint_weights(model: AttentionOcr) -> dict:
    """The model's variables keyed by their layer path ("conv1.kernel", "encoder.forward_lstm…"), for
    tf.train.Checkpoint.
    # NOTE: tf.train.Checkpoint(model=keras3_model) silently leaves out layers kept in lists and wrapped
    # layers (the CNN, the encoder): measured with Keras 3.6, 7 of 53 variables were saved. Keying the
    # variables by path saves all of them, with names that do not depend on how many models a process built.
    """
    weights = {}
    for variable in model.variables:
        if "seed_generator" in variable.path:  # dropout's random state, not a weight
            continue
        path = variable.path.split("/", 1)[1] if variable.path.startswith(MODEL_NAME + "/") else variable.path
        weights[path.replace("/", ".")] = variable.value
    return weights
