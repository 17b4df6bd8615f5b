"""Training speed at aocr's default sizes, and whether the input pipeline keeps up.

Renders a TFRecords set with `ovconvert aocr synth`, then times training steps (batch 65 by default) fed
(a) by the real tf.data pipeline from the TFRecords — decode, resize, standardize, pad, labels — and
(b) by one batch already in memory, alternating the two so machine noise hits both. Prints images/s
for each and the step-time ratio: the pipeline is not the bottleneck when (a) is within 10% of (b).

Usage: python benchmarks/aocr_training.py [--steps N] [--batch-size B] [--cnn-scale S]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round (default 20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=65)
    parser.add_argument("--cnn-scale", type=float, default=1.0, help="1.0 = aocr's default network")
    args = parser.parse_args()

    import tensorflow as tf

    from ovconvert.aocr import charset, data, dataset_builder, train
    from ovconvert.aocr import model as model_lib
    from ovconvert.aocr.config import ModelConfig

    work = Path(tempfile.mkdtemp(prefix="aocr-train-bench-"))
    records = str(work / "words.tfrecords")
    count = args.batch_size * (args.steps * args.rounds + 4)
    dataset_builder.synthesize(count, records, charset.DEFAULT, 8, True, seed=1, held_out=None, jobs=2)
    config = ModelConfig(charset=charset.DEFAULT, cnn_scale=args.cnn_scale)
    options = train.TrainOptions(dataset=(records,), model_dir=str(work / "model"), batch_size=args.batch_size,
                                 optimizer="adadelta")
    strategy = tf.distribute.get_strategy()
    model = model_lib.build(config)
    optimizer = train.make_optimizer(options)
    step = train.make_step(model, optimizer, strategy, options)

    pipeline = iter(data.dataset([records], config, None, args.batch_size, shuffle=True, repeat=None,
                                 drop_remainder=True))
    in_memory = next(pipeline)
    step(*in_memory)  # trace and warm up both paths
    step(*next(pipeline))

    def timed(source) -> float:
        started = time.perf_counter()
        for _ in range(args.steps):
            loss, _, _ = step(*source())
        float(loss)  # wait for the last step
        return (time.perf_counter() - started) / args.steps

    from_records, from_memory = [], []
    for _ in range(args.rounds):
        from_records.append(timed(lambda: next(pipeline)))
        from_memory.append(timed(lambda: in_memory))
    records_step, memory_step = statistics.median(from_records), statistics.median(from_memory)
    print(f"aocr network (cnn scale {args.cnn_scale}), batch {args.batch_size}, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} "
          f"intra-op threads, {args.rounds}×{args.steps} steps each way")
    print(f"from TFRecords (tf.data): {records_step:.3f} s/step, {args.batch_size / records_step:.1f} images/s")
    print(f"from an in-memory batch:  {memory_step:.3f} s/step, {args.batch_size / memory_step:.1f} images/s")
    ratio = records_step / memory_step
    print(f"step-time ratio TFRecords / in-memory: {ratio:.3f} "
          f"({'within' if ratio <= 1.10 else 'NOT within'} 10%: the input pipeline "
          f"{'is not' if ratio <= 1.10 else 'is'} the bottleneck)")


if __name__ == "__main__":
    main()
