"""Keep TensorFlow's native log noise off the console.

TF_CPP_MIN_LOG_LEVEL silences TensorFlow's own C++ log, but TensorFlow 2.17's XLA and grappler log through
absl before absl is initialised, straight to file descriptor 2: "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR" and "I0000 … devices.cc:67] Number of eligible
GPUs …" on every run, on machines with no GPU. No setting reaches them, so the console command passes
its stderr through a filter that drops exactly those lines (`-v` keeps everything). Only the console
entry point installs it: ovconvert used as a library, or in tests, keeps its stderr as it is.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

NOISE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\] "
                   rb"|\d{4}-\d\d-\d\d [\d:.]+: [EIW] external/local_xla/.*Unable to register)")


def install() -> None:
    """Route file descriptor 2 through a thread that drops NOISE lines and passes everything else at once."""
    if os.environ.get("OVCONVERT_RAW_STDERR"):
        return
    try:
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    thread = threading.Thread(target=_pump, args=(read_end, original), daemon=True, name="native-noise-filter")
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)  # closes our copy of the pipe's write end: the pump sees the end of input
        thread.join(timeout=2)

    atexit.register(restore)


def _pump(read_end: int, original: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out = b"".join(line + b"\n" for line in lines if not NOISE.match(line))
        if pending and b"\r" in pending:  # a progress line redrawn in place: show it now
            cut = pending.rindex(b"\r") + 1
            out, pending = out + pending[:cut], pending[cut:]
        if out:
            _write_all(original, out)
    if pending and not NOISE.match(pending):
        _write_all(original, pending)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except OSError:
            return
        data = data[written:]
