"""Bad input and faults, each kind with real processes: the exit code, one line on stderr, no traceback,
nothing half-written or stale, no process left running (docs/reliability.md has the table).

Most cases run `python -m ovconvert` in a subprocess, as a user or a CI step would, so that the exit code,
the signal handling and the processes left behind are the real ones."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

ENV = dict(os.environ, CI="true", TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")


def ovconvert(*args, env=None, timeout=600, cwd=REPO) -> subprocess.CompletedProcess:
    """ovconvert in its own process; a `run` skips the bench stage (test_speed.py covers it)."""
    args = [str(arg) for arg in args]
    if "run" in args and "--bench" not in args:
        args.append("--no-bench")
    return subprocess.run([sys.executable, "-m", "ovconvert", *args], capture_output=True, text=True,
                          env=env or ENV, timeout=timeout, cwd=cwd)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ovconvert: error:")]


def assert_one_line_error(done: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    (line,) = error_lines(done.stderr)
    for fragment in fragments:
        assert fragment in line, line
    return line


def processes_matching(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (a test's own directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if text in command and state != "Z" and int(entry.name) != os.getpid():
            found.append(command)
    return found


@pytest.fixture(scope="module")
def small_frozen(tmp_path_factory) -> Path:
    """x[1,8,8,3] → conv → relu → mean: a frozen graph for cut and convert cases."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="x")])
    def model(x):
        return tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME")), axis=[1, 2], name="y")

    frozen = convert_variables_to_constants_v2(model.get_concrete_function())
    path = tmp_path_factory.mktemp("small") / "small.pb"
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return path


# ------------------------------------------------------------------- 1. bad input: one line, exit 2


def test_recipe_files_that_do_not_load(tmp_path):
    latin1 = tmp_path / "latin.yaml"
    latin1.write_bytes("name: latin\ndescription: caf\xe9\n".encode("latin-1"))
    assert_one_line_error(ovconvert("run", latin1, "--dry-run"), 2, "not UTF-8 text", "save the file as UTF-8")

    twice = tmp_path / "twice.yaml"
    twice.write_text("name: twice\nfamily: slim\nconvert: {scale: 1}\nconvert: {scale: 2}\n")
    assert_one_line_error(ovconvert("show", twice), 2, "twice.yaml", "'convert' given twice")

    laughs = tmp_path / "laughs.yaml"  # a "billion laughs": 10 levels of 10 aliases
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    laughs.write_text("name: laughs\n" + "\n".join(lines) + "\n")
    started = time.monotonic()
    assert_one_line_error(ovconvert("run", laughs, "--dry-run", timeout=60), 2, "alias *a0", "write the value out")
    assert time.monotonic() - started < 30

    assert_one_line_error(ovconvert("run", tmp_path, "--dry-run"), 2, "is a directory")
    assert_one_line_error(ovconvert("run", "inception_v11", "--dry-run"), 2, "did you mean inception_v1")
    assert_one_line_error(ovconvert("show", "aocr", "--set", "convert.mean_valuez=[1]"), 2,
                          "--set convert.mean_valuez=…: unknown key")
    assert_one_line_error(ovconvert("show", "aocr", "--set", "convert.timeout_s=-1"), 2, "convert.timeout_s",
                          "at least 1")
    assert_one_line_error(ovconvert("show", "aocr", "--set", "validate.count=0"), 2, "validate.count")


def test_list_names_a_broken_recipe_and_still_lists_the_others(tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "good.yaml").write_text("family: slim\ntask: classification\ndescription: fine\n")
    (registry / "bad.yaml").write_text("family: [slim\n")
    done = ovconvert("list", env=dict(ENV, OVCONVERT_RECIPES=str(registry)))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stdout.split()[0] == "good"
    assert "bad.yaml: not valid YAML at line" in done.stderr
    missing = ovconvert("list", env=dict(ENV, OVCONVERT_RECIPES=str(tmp_path / "nowhere")))
    assert_one_line_error(missing, 2, "no recipe registry at", "OVCONVERT_RECIPES")


def test_output_and_cache_directories_that_are_files(tmp_path):
    blocker = tmp_path / "a"
    blocker.write_text("a file")
    assert_one_line_error(ovconvert("run", "aocr", "-o", blocker / "b"), 2, "-o", "which is a file")
    assert_one_line_error(ovconvert("run", "aocr", "-o", tmp_path / "out", "--cache-dir", blocker), 2,
                          "--cache-dir", "not a directory")
    assert not (tmp_path / "out").exists()


def test_an_empty_directory_is_not_taken_for_a_saved_model(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (("summarize", empty), ("freeze", empty, "-o", tmp_path / "f.pb")):
        assert_one_line_error(ovconvert(*command), 2, "without saved_model.pb")
    done = subprocess.run([sys.executable, "-m", "ovconvert.cli.summarize_graph", "--saved_model_dir", str(empty)],
                          capture_output=True, text=True, env=ENV, cwd=REPO)
    assert_one_line_error(done, 2, "without saved_model.pb")
    assert not (tmp_path / "f.pb").exists()


def test_summarize_leaves_no_temporary_directory(tmp_path):
    from conftest import fixture_path

    model = fixture_path("aocr-tf1.15")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    done = ovconvert("summarize", model, "--weights", "initializers", env=dict(ENV, TMPDIR=str(temporary)))
    assert done.returncode == 0, done.stderr[-1000:]
    assert not [p for p in temporary.iterdir() if p.name.startswith("ovconvert-summarize-")]


def test_validate_with_a_corrupt_report(tmp_path):
    (tmp_path / "report.json").write_text('{"cut": ')
    assert_one_line_error(ovconvert("validate", "aocr", "--run-dir", tmp_path), 2, "report.json",
                          "run the recipe again")


def test_check_baseline_entry_that_is_not_a_mapping_fails_before_converting(tmp_path):
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"recipes": {"aocr": [1, 2]}}))
    started = time.monotonic()
    assert_one_line_error(ovconvert("check", "aocr", "--baseline", baseline, "-o", tmp_path / "runs"), 2,
                          "the entry of 'aocr' is not a mapping")
    assert time.monotonic() - started < 60 and not (tmp_path / "runs").exists()


def test_cut_specs_of_the_wrong_rank_or_with_a_zero_dimension(small_frozen, tmp_path):
    out = tmp_path / "cut.pb"
    for spec, fragment in (("x:0[1,8,8]{f32}", "has rank 3, the graph says rank 4"), ("x:0[1,8,8]", "rank 3"),
                           ("x:0[1,0,8,3]{f32}", "a dimension of 0")):
        assert_one_line_error(ovconvert("cut", small_frozen, "--input", spec, "--output", "y", "-o", out), 2,
                              fragment)
        assert not out.exists()


def test_convert_without_a_recipe_names_its_flags_and_writes_where_asked(small_frozen, tmp_path):
    bad = ovconvert("convert", small_frozen, "--input", "x:0[1,8,8,3]{f32}", "--output", "no_such_node",
                    "-o", tmp_path / "bad")
    line = assert_one_line_error(bad, 3, "mo failed")
    assert "flags of `ovconvert convert`" in line and "recipe's" not in line and "No node with name" in line
    assert not list((tmp_path / "bad").glob("*.xml"))
    good = ovconvert("convert", small_frozen, "--input", "x:0[1,8,8,3]{f32}", "--output", "y", "-o", tmp_path / "ir")
    assert good.returncode == 0, good.stderr[-1000:]
    assert (tmp_path / "ir" / "small.xml").is_file() and not (tmp_path / "ir" / "ir").exists()


def test_mo_errors_quote_the_cause_not_the_banner(tmp_path):
    from ovconvert.stages.convert import first_error_line

    log = tmp_path / "mo.log"
    log.write_text("[ ERROR ]  -------------------------------------------------\n"
                   "[ ERROR ]  ----------------- INTERNAL ERROR ----------------\n"
                   "[ ERROR ]  Unexpected exception happened.\n"
                   "[ ERROR ]  Please contact Model Optimizer developers and forward the following information:\n"
                   "[ ERROR ]  Exception occurred during running replacer \"REPLACEMENT_ID\" (<class 'x'>): "
                   "Input order must have shape [n]\n"
                   "[ ERROR ]  Traceback (most recent call last):\n")
    assert first_error_line(log).endswith("Input order must have shape [n]")
    log.write_text("Traceback (most recent call last):\n  File \"x\", line 1\n"
                   "openvino._pyopenvino.OpConversionFailure: the frontend supports frozen formats only\n")
    assert first_error_line(log) == ("openvino._pyopenvino.OpConversionFailure: the frontend supports frozen "
                                     "formats only")


AOCR_DATASET_CASES = {
    "output directory missing": (lambda t: ("dataset", t / "ann.txt", t / "nowhere" / "x.tfrecords"),
                                 "does not exist; create it first"),
    "output is a directory": (lambda t: ("dataset", t / "ann.txt", t), "is a directory"),
    "log directory missing": (lambda t: ("dataset", t / "ann.txt", t / "x.tfrecords", "--log-path",
                                         t / "nowhere" / "aocr.log"), "--log-path"),
    "image is a directory": (lambda t: ("dataset", t / "dir-ann.txt", t / "x.tfrecords"), "is a directory, not an image"),
    "batch size 0": (lambda t: ("train", t / "x.tfrecords", "--batch-size", "0", "--model-dir", t / "m"),
                     "--batch-size 0: give at least 1"),
    "misreads directory missing": (lambda t: ("test", t / "x.tfrecords", "--misreads", t / "nowhere" / "m.tsv"),
                                   "--misreads"),
    "misread records is a directory": (lambda t: ("test", t / "x.tfrecords", "--misread-records", t),
                                       "--misread-records"),
}


@pytest.mark.parametrize("case", AOCR_DATASET_CASES)
def test_aocr_bad_input(case, tmp_path):
    from ovconvert.families import words

    words.render("WORD").save(tmp_path / "word.png")
    (tmp_path / "ann.txt").write_text("word.png WORD\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "dir-ann.txt").write_text("word.png WORD\nsub WORD\n")
    arguments, fragment = AOCR_DATASET_CASES[case]
    done = ovconvert("aocr", *arguments(tmp_path), cwd=tmp_path)
    assert_one_line_error(done, 2, fragment)
    assert not list(tmp_path.rglob("*.partial")) and not (tmp_path / "x.tfrecords").exists()


def test_aocr_train_on_a_truncated_tfrecords_file_names_the_record(tmp_path):
    from ovconvert.families import words

    for i, text in enumerate(("ONE", "TWO", "SIX")):
        words.render(text).save(tmp_path / f"{i}.png")
    (tmp_path / "ann.txt").write_text("0.png ONE\n1.png TWO\n2.png SIX\n")
    assert ovconvert("aocr", "dataset", "ann.txt", "full.tfrecords", "--log-path", "", cwd=tmp_path).returncode == 0
    data = (tmp_path / "full.tfrecords").read_bytes()
    (tmp_path / "cut.tfrecords").write_bytes(data[:-10])  # the third record loses its end
    done = ovconvert("aocr", "train", "cut.tfrecords", "--model-dir", "m", "--log-path", "", cwd=tmp_path)
    assert_one_line_error(done, 2, "cut.tfrecords: record 3 is truncated or corrupt")
    assert not (tmp_path / "m" / "checkpoint").exists()
    # the annotation file given where its dataset goes: said, with the command that makes the dataset
    done = ovconvert("aocr", "test", "ann.txt", "--model-dir", "pretrained", "--log-path", "", cwd=tmp_path)
    assert_one_line_error(done, 2, "ann.txt is a text file, not TFRecords: an annotation file ('IMAGE-PATH LABEL' "
                                   "lines)? make its dataset first: `ovconvert aocr dataset ann.txt ann.tfrecords`")


def test_aocr_predict_reads_every_input_and_fails_when_one_could_not_be_read(tmp_path):
    from ovconvert.families import words

    words.render("CAT").save(tmp_path / "cat.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    from ovconvert.families.aocr import PRETRAINED_DIR

    done = subprocess.run([sys.executable, "-m", "ovconvert", "aocr", "predict", "--log-path", "",
                           "--model-dir", str(PRETRAINED_DIR)],
                          input="broken.png\ncat.png\nmissing.png\n", capture_output=True, text=True, env=ENV,
                          cwd=tmp_path, timeout=300)
    assert_one_line_error(done, 2, "2 of 3 inputs could not be read")
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and lines[1].startswith("cat.png\tCAT")


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_aocr_predict_with_a_checkpoint_that_does_not_fit_its_config_says_so(engine, tmp_path):
    """The OpenVINO engine loads no weights of its own (its IR is converted from them): a checkpoint that
    does not fit config.json is still the user's error, said before anything is converted."""
    import shutil

    from ovconvert.families import words
    from ovconvert.families.aocr import PRETRAINED_DIR

    shutil.copytree(PRETRAINED_DIR, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    (tmp_path / "model" / "config.json").write_text(json.dumps({**config, "attn_num_hidden": 64}))
    words.render("CAT").save(tmp_path / "cat.png")
    done = subprocess.run([sys.executable, "-m", "ovconvert", "aocr", "predict", "--log-path", "", "--model-dir",
                           "model", "--engine", engine, "--cache-dir", "cache"],
                          input="cat.png\n", capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert_one_line_error(done, 2, "the checkpoint does not match the model in config.json")
    assert not done.stdout and not (tmp_path / "cache" / "aocr-ir").exists()



def test_aocr_predict_reads_tiff_webp_and_turned_photos_as_it_reads_png(tmp_path):
    """TensorFlow decodes JPEG, PNG, GIF and BMP only; other formats Pillow reads (a scanner's TIFF, a
    browser's WebP, 16-bit grey) go to the model as PNG with the same pixels, instead of failing their
    whole batch inside TensorFlow (an internal error before). A phone's JPEG stored on its side with an
    EXIF orientation is turned upright first (TensorFlow ignores the tag: it read "J")."""
    import numpy as np
    from PIL import Image

    from ovconvert.aocr.data import readable_image
    from ovconvert.families import words
    from ovconvert.families.aocr import PRETRAINED_DIR

    word = words.render("PANTHER").convert("RGB")
    word.save(tmp_path / "word.png")
    word.save(tmp_path / "word.tiff")
    word.save(tmp_path / "word.webp", lossless=True)
    Image.fromarray(np.asarray(word.convert("L")).astype(np.uint16) * 257).save(tmp_path / "grey16.tiff")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: stored turned a quarter anticlockwise; viewers turn it clockwise
    word.rotate(90, expand=True).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    upright = Image.open(__import__("io").BytesIO(readable_image((tmp_path / "turned.jpg").read_bytes())))
    assert upright.format == "PNG" and upright.size == word.size
    png = readable_image((tmp_path / "word.png").read_bytes())
    assert png == (tmp_path / "word.png").read_bytes()  # what TensorFlow reads is passed on unchanged
    for name in ("word.tiff", "word.webp"):
        converted = Image.open(__import__("io").BytesIO(readable_image((tmp_path / name).read_bytes())))
        assert converted.format == "PNG" and np.array_equal(np.asarray(converted), np.asarray(word)), name
    assert readable_image(b"not an image at all") is None

    done = subprocess.run([sys.executable, "-m", "ovconvert", "aocr", "predict", "--log-path", "",
                           "--model-dir", str(PRETRAINED_DIR)],
                          input="word.png\nword.tiff\nword.webp\ngrey16.tiff\nturned.jpg\n", capture_output=True,
                          text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split("\t")[:2] for line in done.stdout.splitlines()] == \
        [[name, "PANTHER"] for name in ("word.png", "word.tiff", "word.webp", "grey16.tiff", "turned.jpg")]

# ------------------------------------------------------------ 2. a stopped mo does not keep running


def _start_run(out: Path, cache: Path, *extra) -> subprocess.Popen:
    # SIGINT back to its default in the child: a shell ignores it for the jobs it starts in the
    # background (`make test &`), and Python then installs no KeyboardInterrupt handler.
    return subprocess.Popen([sys.executable, "-m", "ovconvert", "run", "recipes/aocr.yaml", "-o", str(out),
                             "--cache-dir", str(cache), "--no-bench", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_mo(marker: str, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("openvino.tools.mo" in c or "mo/main.py" in c for c in processes_matching(marker)):
            time.sleep(1.0)  # let mo start its own child
            return
        assert process.poll() is None, process.communicate()[1][-2000:]
        time.sleep(0.2)
    raise AssertionError("mo never started")


def _assert_nothing_left(out: Path) -> None:
    time.sleep(1.0)
    assert processes_matching(str(out)) == [], processes_matching(str(out))
    assert not (out / "ir").exists() and not list(out.glob(".convert-*"))


@pytest.mark.parametrize("how, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_during_mo_stops_mo_too(how, code, tmp_path):
    out = tmp_path / "out"
    process = _start_run(out, tmp_path / "cache")
    _wait_for_mo(str(out), process)
    process.send_signal(getattr(signal, how))  # to ovconvert's PID alone, as `kill` would
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    _assert_nothing_left(out)
    time.sleep(3)  # an orphaned mo would write its IR about now
    assert not list(out.rglob("*.xml"))


def test_mo_timeout_kills_the_whole_mo(tmp_path):
    out = tmp_path / "out"
    done = ovconvert("run", "recipes/aocr.yaml", "-o", out, "--cache-dir", tmp_path / "cache",
                     "--set", "convert.timeout_s=2")
    assert_one_line_error(done, 3, "mo timed out after 2 s")
    _assert_nothing_left(out)


def test_check_timeout_leaves_no_conversion_running(tmp_path):
    runs = tmp_path / "runs"
    done = ovconvert("check", "aocr", "--timeout", "12", "-o", runs, "--cache-dir", tmp_path / "cache")
    assert done.returncode == 3 and "timed out after 12 s" in done.stdout
    time.sleep(2)
    assert processes_matching(str(runs)) == []


# ------------------------------------------------------- 3. no IR at the final path after a failure


def test_an_error_during_validation_leaves_no_ir(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "ann.txt").write_text("broken.png WORD\n")
    out = tmp_path / "out"
    done = ovconvert("run", "recipes/aocr.yaml", "-o", out, "--cache-dir", tmp_path / "cache",
                     "--set", f"validate.images=['{tmp_path / 'ann.txt'}']")
    assert done.returncode in (2, 3) and "Traceback" not in done.stderr, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "error" and report["ir"] == {}
    assert not (out / "ir").exists()


def test_a_failed_rerun_removes_the_previous_runs_ir(tmp_path):
    out = tmp_path / "out"
    first = ovconvert("run", "recipes/aocr.yaml", "-o", out, "--cache-dir", tmp_path / "cache")
    assert first.returncode == 0 and (out / "ir" / "aocr.xml").is_file()
    again = ovconvert("run", "recipes/aocr.yaml", "-o", out, "--cache-dir", tmp_path / "cache",
                      "--set", "source.builder_args={model_dir: /nonexistent}")
    assert again.returncode == 2
    assert json.loads((out / "report.json").read_text())["status"] == "error"
    assert not (out / "ir").exists()


# ------------------------------------------------- 5, 6, 7. downloads, paths, concurrency (loopback)


class _Endless(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        try:
            for _ in range(20000):  # bounded: at most ~160 MB, stops when the client goes away
                self.wfile.write(b"\0" * 8192)
        except (BrokenPipeError, ConnectionResetError):
            pass


def test_a_server_that_never_stops_sending_is_cut_at_the_expected_size(tmp_path):
    from ovconvert.errors import ToolError
    from ovconvert.recipes.schema import Download
    from ovconvert.stages.acquire import download

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/model.pb"
        with pytest.raises(ToolError, match="sent more than the 1000 bytes"):
            download(Download(url, size=1000), tmp_path / "cache")
    finally:
        server.shutdown()
        server.server_close()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_a_recipe_path_for_writing_cannot_leave_its_directory(tmp_path):
    recipe = tmp_path / "escape.yaml"
    recipe.write_text("name: escape\nfamily: slim\nsource: {path: model.pb}\nfreeze:\n  format: checkpoint\n"
                      "  checkpoint: model.ckpt\n  outputs: [y]\n  network:\n    name: inception_v1\n"
                      "    definition:\n      - {url: 'http://127.0.0.1:9/x.py', save_as: ../../../escaped.py}\n")
    assert_one_line_error(ovconvert("run", recipe, "-o", tmp_path / "out"), 2, "save_as", "outside")
    assert not list(tmp_path.parent.glob("escaped.py")) and not (tmp_path / "out" / "network").exists()


def test_an_archive_that_expands_like_a_bomb_is_refused(tmp_path):
    import tarfile

    from ovconvert.errors import UserError
    from ovconvert.stages.acquire import unpack

    zeros = tmp_path / "zeros.bin"
    with open(zeros, "wb") as handle:
        handle.truncate(200 << 20)  # 200 MB of zeros
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(zeros, arcname="model.pb")
    zeros.unlink()
    with pytest.raises(UserError, match="unpacking limit"):
        unpack(archive, tmp_path / "unpacked")
    assert not (tmp_path / "unpacked").exists() and not list(tmp_path.glob("unpacked.partial-*"))


def test_a_hard_link_to_a_missing_member_is_refused(tmp_path):
    import io
    import tarfile

    from ovconvert.errors import UserError
    from ovconvert.stages.acquire import unpack

    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("model.pb")
        link.type, link.linkname = tarfile.LNKTYPE, "not-there.pb"
        tar.addfile(link, io.BytesIO())
    with pytest.raises(UserError, match="hard link 'model.pb' to 'not-there.pb'"):
        unpack(archive, tmp_path / "unpacked")


_DOWNLOAD_TWICE = """
import sys
from pathlib import Path
from ovconvert.recipes.schema import Download
from ovconvert.stages.acquire import download, unpack
path = download(Download(sys.argv[1], size=int(sys.argv[2])), Path(sys.argv[3]))
print(unpack(path, Path(sys.argv[3]) / "unpacked"))
"""


def test_two_processes_sharing_a_cache_wait_for_each_other(tmp_path, loopback):
    """Two runs fetch and unpack the same (slowly served) archive into one cache at the same time: both
    succeed with the same entry, and the cache holds one copy."""
    import tarfile

    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "model.pb").write_bytes(os.urandom(3 << 20))
    with tarfile.open(loopback.root / "model.tar.gz", "w:gz") as tar:
        tar.add(payload / "model.pb", arcname="model.pb")
    size = (loopback.root / "model.tar.gz").stat().st_size
    cache = tmp_path / "cache"
    command = [sys.executable, "-c", _DOWNLOAD_TWICE, loopback.url("model.tar.gz"), str(size), str(cache)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                             cwd=REPO) for _ in range(2)]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-1500:] for _, err in results]
    assert results[0][0] == results[1][0]
    assert len([p for p in cache.rglob("model.tar.gz")]) == 1
    assert not list(cache.rglob("*.partial")) and not list(cache.rglob("*.partial-*"))


def test_a_run_prints_no_tensorflow_noise_and_quiet_prints_only_the_result(tmp_path):
    """Without -v, TensorFlow's C++ lines (`Unable to register cuDNN factory`, absl's banner) and Keras'
    warnings do not reach the user; -q leaves the result lines."""
    done = ovconvert("run", "recipes/aocr.yaml", "-o", tmp_path / "out", "--cache-dir", tmp_path / "cache",
                     env={k: v for k, v in ENV.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")})
    assert done.returncode == 0, done.stderr[-2000:]
    for noise in ("Unable to register", "absl::InitializeLog", "UserWarning", "cuda"):
        assert noise not in done.stderr, done.stderr[-3000:]
    quiet = ovconvert("-q", "run", "recipes/aocr.yaml", "-o", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    # (on a bf16 CPU a precision warning may remain: -q keeps warnings)
    assert quiet.returncode == 0 and all(line.strip().startswith("warning:") for line in quiet.stderr.splitlines()
                                         if line.strip()), quiet.stderr
    assert quiet.stdout.splitlines()[0].startswith("aocr: converted and validated")


def test_aocr_without_a_model_names_the_bundled_one(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("aocr", "export", tmp_path / "out", "--log-path", "")
    assert code == 2 and "--model-dir" in err and "aocr/pretrained" in err


def test_importing_ovconvert_keeps_openvino_telemetry_off():
    """`import openvino` starts a telemetry thread unless CI=true; that thread deadlocked processes
    importing TensorFlow beside it (ovconvert/__init__.py). Importing ovconvert first turns it off."""
    probe = ("import threading, ovconvert, openvino; "
             "print(sorted(t.name for t in threading.enumerate() if t is not threading.main_thread()))")
    env = {k: v for k, v in ENV.items() if k != "CI"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", (done.stdout, done.stderr[-1500:])
