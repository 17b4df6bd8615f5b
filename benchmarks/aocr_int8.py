"""The bundled aocr model through `ovconvert run --quantize int8 --bench`, then both IRs on 200 held-out
words: the bench stage's table and recommendation (IR/TensorFlow ratios measured in one process), and how
many of the held-out words the INT8 IR reads exactly as the FP32 IR does (issue 12's targets: best
validated configuration ≥ 2.5× TensorFlow at batch 1 and ≥ 2× at batch 32; INT8 ≥ 99% of the words).

Usage: python benchmarks/aocr_int8.py [--words FILE.tfrecords] [--seconds S] [--set KEY=VALUE …]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Readings below this probability are close calls for the FP32 IR itself: the words where any change
# of arithmetic (INT8, bf16, another CPU) may tip the decoder to another string.
CONFIDENT = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", default=str(REPO / "tests" / "data" / "aocr-heldout-200.tfrecords"))
    parser.add_argument("--seconds", type=float, default=20.0, help="the bench stage's measuring time")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a recipe override passed to `ovconvert run` (e.g. quantize.count=300); repeatable")
    args = parser.parse_args()

    from ovconvert.cli import main as ovconvert
    from ovconvert.families import aocr as family
    from ovconvert.stages.bench import recommendation_lines

    work = Path(tempfile.mkdtemp(prefix="aocr-int8-"))
    run_dir = work / "run"
    if ovconvert(["-q", "run", "recipes/aocr.yaml", "-o", str(run_dir), "--cache-dir", str(work / "cache"),
                  "--quantize", "int8", "--bench", "--set", f"bench.seconds={args.seconds}",
                  *(arg for override in args.set for arg in ("--set", override))]) != 0:
        sys.exit("the conversion failed; see above")
    report = json.loads((run_dir / "report.json").read_text())
    if report["int8"]["status"] != "passed":
        sys.exit(f"the INT8 IR did not pass its gate: {report['int8']}")

    labels, (fp32, int8) = family.read_records_with_irs(report, args.words,
                                                        [run_dir / "ir" / "aocr.xml", run_dir / "ir-int8" / "aocr.xml"])
    same = sum(a == b for (a, _), (b, _) in zip(fp32, int8))
    print(f"held-out words ({args.words}): {len(labels)}")
    print(f"  FP32 IR reads {sum(a == label for (a, _), label in zip(fp32, labels))} correctly; INT8 IR "
          f"{sum(b == label for (b, _), label in zip(int8, labels))}")
    print(f"  INT8 reads {same}/{len(labels)} ({same / len(labels):.1%}) exactly as FP32 does")
    confident = [(a, b) for (a, p), (b, _) in zip(fp32, int8) if p >= CONFIDENT]
    print(f"  of the {len(confident)} words the FP32 IR reads with probability ≥ {CONFIDENT}: "
          f"{sum(a == b for a, b in confident)} read the same")
    for label, (a, p), (b, q) in zip(labels, fp32, int8):
        if a != b:
            print(f"    {label:<26} FP32 {a} ({p:.3f})   INT8 {b} ({q:.3f})")
    from ovconvert.environment import one_line

    print(f"bench (ratios measured in one process; {one_line(report['environment'])}):")
    for row in report["bench"]["rows"]:
        ratio = f"{row['speedup']:.2f}×" if row.get("speedup") else "reference"
        print(f"  {row['name']:<34} {row['mode']:<24} {row['median_ms']:8.2f} ms  {ratio}")
    for line in recommendation_lines(report["bench"]["recommendation"]):
        print(f"  {line}")


if __name__ == "__main__":
    main()
