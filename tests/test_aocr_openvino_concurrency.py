"""Reading with OpenVINO at once: the reader's streams in Python threads (a fresh process must let them all touch
their tensors together, which is what its first split batch does), and processes sharing a fresh cache."""

from __future__ import annotations

import subprocess
import sys

from conftest import noise_png

# A fresh process (the race is over a set-up done once a process): the reader made as `aocr predict` makes it,
# then THREADS threads released together, each reading and writing its request's tensors as a stream's thread
# does. The GIL is handed over as often as the interpreter allows, so two threads reach OpenVINO's first
# `.data` together as often as they can.
FRESH_PROCESS = """
import sys, threading
from pathlib import Path
from ovconvert.aocr import trained
from ovconvert.aocr.openvino_engine import OpenVinoReader

model_dir, cache_dir = sys.argv[1], Path(sys.argv[2])
reader = OpenVinoReader(trained.load(model_dir, weights=False), model_dir, cache_dir)
requests = [request for per_stream in reader.requests.values() for request in per_stream]
sys.setswitchinterval(1e-6)
THREADS = 8
together = threading.Barrier(THREADS)

def like_a_stream(request):
    together.wait()
    request.get_input_tensor(0).data[:] = 0
    request.get_output_tensor(0).data.copy()

threads = [threading.Thread(target=like_a_stream, args=(requests[i % len(requests)],)) for i in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("every thread done")
"""
# Before the reader read its tensors first in its own thread, 4 of 6 such processes hung for good (0 of 8
# since), so three in a row all finishing is a test that fails when the deadlock comes back.
PROCESSES = 3


def test_a_fresh_readers_streams_read_their_tensors_at_once_without_deadlock(tiny_aocr, tmp_path):
    from ovconvert.aocr.openvino_engine import converted_ir

    _, model_dir = tiny_aocr
    cache_dir = tmp_path / "cache"
    converted_ir(str(model_dir), cache_dir)  # once, here, so that each process below only compiles
    for _ in range(PROCESSES):
        try:
            done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(model_dir), str(cache_dir)],
                                  capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise AssertionError("a fresh OpenVinoReader's threads deadlocked reading their tensors at once")
        assert done.returncode == 0, done.stderr[-2000:]
        assert "every thread done" in done.stdout


def test_two_processes_on_a_fresh_cache_convert_the_model_once_and_read_the_same(tiny_aocr, tmp_path):
    """Two `aocr predict --engine openvino` started together, as a script over several folders starts them:
    one converts, the other waits for it (the IR's run directory has a lock) and reads with the same IR."""
    _, model_dir = tiny_aocr
    for index in range(3):
        (tmp_path / f"{index}.png").write_bytes(noise_png(60 + 20 * index, 32, seed=index))
    command = [sys.executable, "-m", "ovconvert", "aocr", "predict", "--model-dir", str(model_dir), "--engine",
               "openvino", "--cache-dir", str(tmp_path / "cache"), "--log-path", ""]
    names = "".join(f"{index}.png\n" for index in range(3))
    processes = [subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(names, timeout=600) for process in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-2000:]
    assert outputs[0][0] == outputs[1][0] and len(outputs[0][0].splitlines()) == 3
    said = outputs[0][1] + outputs[1][1]
    assert said.count("converting") == 1 and "waiting for another ovconvert" in said
    assert len(list((tmp_path / "cache" / "aocr-ir").glob("*/ir/aocr.xml"))) == 1
