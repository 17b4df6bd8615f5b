"""ovconvert: TensorFlow → OpenVINO IR conversions driven by YAML recipes, each validated against TensorFlow."""

import os

__version__ = "0.1.0"

# OpenVINO's telemetry off, in this process and in the mo and benchmark_app it starts. `import openvino`
# imports its converter, whose telemetry sends an event from a background thread that forks and imports
# modules while the main thread goes on importing (TensorFlow): the two can deadlock on Python's import
# locks (seen here: a process stuck at 0% CPU in tensorflow/__init__.py, the telemetry thread in
# GA4Backend.send). mo 2024.6 deadlocks the same way. CI=true is the switch openvino_telemetry reads
# (NNCF's telemetry too); a CI value the user set is kept.
os.environ.setdefault("CI", "true")
