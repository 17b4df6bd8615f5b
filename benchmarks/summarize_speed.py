"""ovconvert summarize vs OpenVINO's summarize_graph.py on the aocr fixture graph (frozen with its own
initialisers, since its weight shard is missing). Prints both times, the ratio, and checks both report
the same inputs and outputs. Usage: python benchmarks/summarize_speed.py [RUNS]"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "fixtures" / "aocr-tf1.15"
ENV = dict(os.environ, CI="true", TF_CPP_MIN_LOG_LEVEL="3")


def timed(command):
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, check=True)
    return time.perf_counter() - started, done.stdout


def main(runs: int = 3) -> None:
    if not FIXTURE.exists():
        sys.exit(f"needs {FIXTURE}")
    frozen = Path(tempfile.mkdtemp()) / "aocr_frozen.pb"
    subprocess.run([sys.executable, "-m", "ovconvert", "freeze", str(FIXTURE), "-o", str(frozen),
                    "--weights", "initializers"], check=True, capture_output=True, env=ENV)
    reference = [sys.executable, "-m", "openvino.tools.mo.utils.summarize_graph", "--input_model", str(frozen)]
    ours = [sys.executable, "-m", "ovconvert", "summarize", str(frozen)]
    ref_times, our_times = [], []
    for _ in range(runs):
        seconds, ref_out = timed(reference)
        ref_times.append(seconds)
        seconds, our_out = timed(ours)
        our_times.append(seconds)
    ref, our = statistics.median(ref_times), statistics.median(our_times)
    print(f"graph: {frozen.name} ({frozen.stat().st_size / 1e6:.1f} MB), median of {runs} runs each")
    print(f"OpenVINO summarize_graph.py: {ref:.2f} s")
    print(f"ovconvert summarize:         {our:.2f} s")
    print(f"speed-up: {ref / our:.1f}x   same report: {ref_out == our_out}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
