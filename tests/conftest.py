"""Shared test helpers: the CLI run in-process, the shared fixtures, and a loopback HTTP server."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fixture_path(relative: str) -> Path:
    """A file of ../shared/fixtures, or a clean skip when this clone has no ../shared beside it."""
    path = FIXTURES / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/fixtures/{relative} (not present in this checkout)")
    return path


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `ovconvert ARGS…` in-process from the repository root; returns (exit code, stdout, stderr)."""
    from ovconvert.cli import main

    monkeypatch.chdir(REPO)

    def run(*args: str):
        args = [str(a) for a in args]
        # The bench stage times the IR for seconds on every run; only the tests about it ask for it.
        if args[:1] == ["run"] and not {"--bench", "--no-bench"} & set(args):
            args.append("--no-bench")
        code = main(args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def sha384(path: Path) -> str:
    return hashlib.sha384(Path(path).read_bytes()).hexdigest()


class LoopbackServer:
    """Serves files from a directory on 127.0.0.1, with HTTP Range support (like a real file host) and
    knobs to cut a transfer short, to ignore ranges, or to fail requests with an HTTP status."""

    def __init__(self, root: Path):
        self.root = root
        self.cut_after: int | None = None  # close the connection after this many body bytes, once
        self.ranges = True
        self.fail_next: list[int] = []  # HTTP status codes to answer the next requests with, one each
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                path = server.root / self.path.lstrip("/")
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if server.fail_next:
                    self.send_error(server.fail_next.pop(0))
                    return
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                header = self.headers.get("Range")
                if header and server.ranges and header.startswith("bytes="):
                    start = int(header[6:].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    limit, server.cut_after = server.cut_after, None
                    self.wfile.write(body[:limit])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def loopback(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    with LoopbackServer(root) as server:
        yield server


@contextlib.contextmanager
def no_new_files(directory: Path, allowed=()):
    before = set(directory.rglob("*")) if directory.exists() else set()
    yield
    after = set(directory.rglob("*")) if directory.exists() else set()
    added = {p for p in after - before if not any(p.match(a) for a in allowed)}
    assert not added, f"unexpected files: {sorted(map(str, added))[:5]}"


# ---------------------------------------------------------------------------------------------- aocr

TINY_MODEL_FLAGS = ("--cnn-scale", "0.125", "--attn-num-hidden", "16", "--attn-num-layers", "1",
                    "--max-prediction", "4", "--batch-size", "8")


def cpu_runs_bf16() -> bool:
    """Whether OpenVINO runs bf16 natively here, as OpenVINO sees it, which is what the product goes by:
    the CPU flags alone say bf16 on an AMX Xeon run with ONEDNN_MAX_CPU_ISA=AVX2, where OpenVINO runs
    AVX2 kernels in f32 (`make test-avx2`)."""
    import openvino as ov

    from ovconvert.precision import probe_device

    return "bf16" in probe_device(ov.Core()).native


def noise_png(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG of grey noise: every column inked, so data.fit's width for it is known exactly."""
    import io

    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(seed).integers(0, 256, size=(height, width), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


def predict_on_both_engines(model_dir: str, names: list[str], cwd: Path) -> dict[str, list[list[str]]]:
    """`aocr predict` in a process per engine on the image files `names` (in `cwd`), with a cache in
    `cwd`: {engine: its output lines split at the tabs}."""
    import subprocess
    import sys

    outputs = {}
    for engine in ("tensorflow", "openvino"):
        done = subprocess.run([sys.executable, "-m", "ovconvert", "aocr", "predict", "--model-dir", model_dir,
                               "--engine", engine, "--batch-size", "4", "--cache-dir", str(cwd / "cache"),
                               "--log-path", ""], input="\n".join(names) + "\n", capture_output=True, text=True,
                              cwd=cwd, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[engine] = [line.split("\t") for line in done.stdout.splitlines()]
    return outputs


def aocr_cli(*args: str) -> int:
    from ovconvert.cli import main

    return main([str(a) for a in args])


def train_one_step_from(tiny_aocr, model_dir: Path, caplog, changed: dict) -> str:
    """`aocr train --init-from` the tiny model, one step, with some of its flags' values changed
    ({"0.125": "0.0625"}); asserts it succeeded with every weight copied and returns the log."""
    records, source_dir = tiny_aocr
    flags = [changed.get(flag, flag) for flag in TINY_MODEL_FLAGS]
    with caplog.at_level(logging.INFO, logger="ovconvert.aocr"):
        code = aocr_cli("aocr", "train", records, "--model-dir", model_dir, *flags, "--init-from", source_dir,
                        "--num-steps", "1", "--log-path", "")
    assert code == 0, caplog.text
    assert "weights copied" in caplog.text and "(not:" not in caplog.text
    return caplog.text


@pytest.fixture(scope="session")
def tiny_aocr(tmp_path_factory):
    """A tiny aocr model trained for a few steps on 64 synthetic DejaVu words: (TFRecords, model dir).
    Too small to read well; big enough to exercise every path (export, test, predict, convert)."""
    root = tmp_path_factory.mktemp("tiny-aocr")
    records = root / "words.tfrecords"
    assert aocr_cli("aocr", "synth", "64", records, "--all-fonts", "--fonts", "DejaVu*", "--max-prediction", "4",
                    "--seed", "5", "--log-path", "") == 0
    assert aocr_cli("aocr", "train", records, "--model-dir", root / "model", "--num-steps", "4",
                    "--steps-per-checkpoint", "2", "--optimizer", "adam", "--log-path", "", *TINY_MODEL_FLAGS) == 0
    return records, root / "model"


class BundledAocrRun:
    """What one full run of recipes/aocr.yaml left: its run dir, report, log text and Model Server repository."""

    def __init__(self, root: Path):
        import json

        self.out, self.ovms_repo, self.cache = root / "run", root / "models", root / "cache"
        self.report = json.loads((self.out / "report.json").read_text())
        self.log = (root / "log.txt").read_text()


@pytest.fixture(scope="session")
def bundled_aocr_run(tmp_path_factory) -> BundledAocrRun:
    """`ovconvert run recipes/aocr.yaml` once, with every stage a test looks at switched on (INT8 through
    NNCF, the bench stage, the Model Server layout into a repository that already serves another model).
    The README's run, the report page, the serving layout and the INT8 gate are each checked against this
    one run instead of converting the bundled model four times (about 80 s of the default suite).
    Once per test session, not once per pytest-xdist worker (`make test` runs two): the first worker to
    need it makes it, under a lock, in the directory the workers share; the other finds it made."""
    import fcntl
    import json

    from ovconvert.cli import main

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # basetemp is the worker's own popen-gwN/
        shared = shared.parent
    root = shared / "bundled-aocr"
    with open(shared / "bundled-aocr.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "log.txt").is_file():  # written last: the run before it is complete
            return BundledAocrRun(root)
        shutil.rmtree(root, ignore_errors=True)  # a run that failed part-way in another worker
        out, repo, cache = root / "run", root / "models", root / "cache"
        repo.mkdir(parents=True)
        (repo / "config.json").write_text(json.dumps({"model_config_list": [
            {"config": {"name": "someone_else", "base_path": "someone_else"}}]}))
        logger = logging.getLogger("ovconvert")
        # The run's log as text, for tests that check what it printed (caplog is per test).
        handler, level = logging.StreamHandler(io.StringIO()), logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        cwd = Path.cwd()
        try:
            os.chdir(REPO)
            code = main(["run", "recipes/aocr.yaml", "-o", str(out), "--cache-dir", str(cache), "--ovms-repo",
                         str(repo), "--quantize", "int8", "--bench", "--set", "bench.seconds=1",
                         "--set", "bench.batch=8"])
        finally:
            os.chdir(cwd)
            logger.removeHandler(handler)
            logger.setLevel(level)
        assert code == 0, handler.stream.getvalue()[-2000:]
        (root / "log.txt").write_text(handler.stream.getvalue())
        return BundledAocrRun(root)


def run_aiy_detector(cli, tmp_path) -> tuple[Path, dict]:
    """The AIY person/cat/dog detector (../shared fixture) converted whole by its recipe: (run dir, report)."""
    import json

    model = fixture_path("odapi/mobilenet_ssd_256res_0.125_person_cat_dog.pb")
    out = tmp_path / "run"
    code, _, err = cli("run", "recipes/odapi/aiy_person_cat_dog.yaml", "--source", model, "-o", out,
                       "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    return out, json.loads((out / "report.json").read_text())
