"""A short `aocr predict --engine openvino` as people run it, a process for a few words: how long it takes
with OpenVINO's compiled models cached from an earlier process (the default) against compiling them again.

The IR is converted once first (cached, as `--engine openvino` keeps it; not timed). Then, --rounds times,
the `compiled` directory beside the IR is deleted and a process reads the words (it compiles every batch
size it needs), and a second process reads them again (it loads what the first compiled). Prints each
process's seconds, the medians and their ratio, and checks that both read the same strings.

Usage: python benchmarks/aocr_first_call.py [--model-dir pretrained] [--count 20] [--rounds 3]
       [--precision f32]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
HELD_OUT = REPO / "tests" / "data" / "aocr-heldout-200.tfrecords"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="pretrained")
    parser.add_argument("--count", type=int, default=20, help="words a process reads (default 20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="f32", help="as `aocr predict --precision` (default f32)")
    args = parser.parse_args()

    from ovconvert import environment
    from ovconvert.aocr import records

    work = Path(tempfile.mkdtemp(prefix="aocr-first-call-"))
    images = []
    for number, record in enumerate(records.read_records([str(HELD_OUT)])):
        if number == args.count:
            break
        images.append(work / f"{number:03d}.png")
        images[-1].write_bytes(records.parse_record(record)[0])
    stdin = "".join(f"{path}\n" for path in images)
    command = [str(Path(sys.executable).parent / "ovconvert"), "aocr", "predict", "--model-dir", args.model_dir,
               "--engine", "openvino", "--precision", args.precision, "--cache-dir", str(work / "cache"),
               "--log-path", ""]

    def read() -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=True)
        return time.perf_counter() - start, done.stdout

    print(f"ran on {environment.one_line(environment.describe())}")
    print(f"a process of `aocr predict --engine openvino --precision {args.precision}` reading {len(images)} "
          f"held-out words; the IR converted first ({read()[0]:.1f} s, not counted)")
    compiled_dirs = list((work / "cache" / "aocr-ir").glob("*/compiled"))
    cold, warm = [], []
    for round_number in range(1, args.rounds + 1):
        for directory in compiled_dirs:
            shutil.rmtree(directory)
        cold_seconds, cold_text = read()
        warm_seconds, warm_text = read()
        assert cold_text == warm_text, "a process with the compiled models cached read other strings"
        cold.append(cold_seconds)
        warm.append(warm_seconds)
        print(f"round {round_number}: compiling {cold_seconds:.2f} s, compiled models cached {warm_seconds:.2f} s")
    size = sum(path.stat().st_size for directory in compiled_dirs for path in directory.iterdir()) / 2**20
    print(f"median: compiling {statistics.median(cold):.2f} s, cached {statistics.median(warm):.2f} s "
          f"({statistics.median(cold) / statistics.median(warm):.2f}× as fast); the same strings; "
          f"{size:.0f} MB of compiled models")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
