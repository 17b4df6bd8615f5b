"""A TensorFlow 2 re-implementation of aocr (github emedvedev/attention-ocr): an attention-OCR model,
its trainer, evaluator, exporter and a synthetic word-image generator, with aocr's command line.

Modules by role: config (what is saved with a checkpoint), charset, data (annotation files, TFRecords,
the tf.data pipeline), model (CNN + BiLSTM encoder + attention decoder), train, evaluate (test and
predict), reread (a doubtful or narrow word read again at other widths), export (SavedModel and frozen graph),
visualize, synth (word images), fonts.
"""
