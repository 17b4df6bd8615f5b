"""A validated IR on its own (issue 14): the metadata it carries, the OpenVINO Model Server layout, and
`ovconvert predict`, the client that uses nothing but OpenVINO, NumPy and Pillow. Model Server itself
cannot be installed here: the layout is checked as OVMS documents it, and the client runs the copied
IR with OpenVINO directly."""

from __future__ import annotations

import json
import shutil

import openvino as ov
from PIL import Image

from conftest import REPO, fixture_path, run_aiy_detector
from ovconvert.families.images import skimage_data_dir


def test_aocr_ir_is_laid_out_for_model_server_and_reads_words_on_its_own(cli, tmp_path, bundled_aocr_run):
    # The run was given a repository that already served "someone_else" (conftest).
    repo, out = bundled_aocr_run.ovms_repo, bundled_aocr_run.out
    config = json.loads((repo / "config.json").read_text())["model_config_list"]
    # Others kept; the run's INT8 IR passed its gate, so it is served too, under its own name.
    assert [entry["config"]["name"] for entry in config] == ["someone_else", "aocr", "aocr-int8"]
    assert sorted(p.name for p in (repo / "aocr-int8" / "1").iterdir()) == ["model.bin", "model.xml"]
    assert config[1]["config"]["base_path"] == "aocr"
    # Each model's plugin_config is what its own fastest validated batch-1 bench row ran with: f32, or bf16
    # for the FP32 IR where bf16 passed on this CPU; the INT8 IR always with the f32 hint it was validated at.
    rows = bundled_aocr_run.report["bench"]["rows"]
    for entry, ir in ((config[1], out / "ir" / "aocr.xml"), (config[2], out / "ir-int8" / "aocr.xml")):
        plugin_config = entry["config"]["plugin_config"]
        measured = [r for r in rows if r["ir"] == str(ir) and r["batch"] == 1 and r["validated"]]
        assert any(r["hint"] == plugin_config["PERFORMANCE_HINT"] and
                   plugin_config["INFERENCE_PRECISION_HINT"] == ("f32" if r["precision"] == "int8" else r["precision"])
                   for r in measured), (plugin_config, measured)
    assert config[2]["config"]["plugin_config"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert sorted(p.name for p in (repo / "aocr" / "1").iterdir()) == ["model.bin", "model.xml"]
    metadata = json.loads(ov.Core().read_model(repo / "aocr" / "1" / "model.xml")
                          .get_rt_info(["ovconvert", "metadata"]).astype(str))
    assert metadata["task"] == "ocr" and metadata["input"]["preprocessing"] == "aocr"
    assert metadata["input"]["trim_margins"] is True  # as the bundled model's config.json asks
    assert metadata["charset"].startswith("0123456789") or "A" in metadata["charset"]

    images = sorted((REPO / "recipes" / "aocr-samples").glob("*.png"))
    # a sample word in the middle of a canvas six times its height wider: the client trims the blank
    # margins as the model's graph does (aocr/data.py), or reads letters into them
    with Image.open(images[0]) as word:
        canvas = Image.new("RGB", (word.width + 12 * word.height, word.height), "white")
        canvas.paste(word.convert("RGB"), (6 * word.height, 0))
    canvas.save(tmp_path / "01-openvino-wide.png")
    # and as black ink on transparent black pixels (`convert -background none`): alpha flattened, not dropped
    ink = canvas.convert("L").point(lambda grey: max(0, min(255, (200 - grey) * 3)))  # the sample's background 207+
    clear = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    clear.putalpha(ink)
    clear.save(tmp_path / "01-openvino-clear.png")
    code, stdout, err = cli("predict", repo / "aocr" / "1" / "model.xml", *images, tmp_path / "01-openvino-wide.png",
                            tmp_path / "01-openvino-clear.png", "--json")
    assert code == 0, err
    read = {json.loads(line)["input"].rsplit("/", 1)[-1]: json.loads(line)["text"] for line in stdout.splitlines()}
    samples = json.loads((out / "report.json").read_text())["validation"]["samples"]
    assert read.pop("01-openvino-wide.png") == read.pop("01-openvino-clear.png") == "OPENVINO"
    assert read == {sample["name"]: sample["tf_text"] for sample in samples}  # TensorFlow's own readings
    _bad_inputs_are_one_line_each(cli, tmp_path, out)


def _bad_inputs_are_one_line_each(cli, tmp_path, out):
    """An unreadable image is reported and the others are still read; an IR without metadata is named."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    good = REPO / "recipes" / "aocr-samples" / "01-openvino.png"
    code, stdout, err = cli("predict", out / "ir" / "aocr.xml", broken, good)
    assert code == 2 and "broken.png: not a readable image" in err
    assert stdout.strip().endswith("OPENVINO")
    bare = tmp_path / "bare"
    shutil.copytree(out / "ir", bare)
    model = ov.Core().read_model(bare / "aocr.xml")
    ov.save_model(ov.Model(model.outputs, model.get_parameters(), "bare"), bare / "plain.xml")
    code, _, err = cli("predict", bare / "plain.xml", good)
    assert code == 2 and "carries no ovconvert metadata" in err and len(err.strip().splitlines()) == 1
    # the image first, by mistake; an IR whose .bin was cut short
    code, _, err = cli("predict", good, good)
    assert code == 2 and "01-openvino.png: not an IR" in err and len(err.strip().splitlines()) == 1
    (bare / "plain.bin").write_bytes((bare / "plain.bin").read_bytes()[:1000])
    code, _, err = cli("predict", bare / "plain.xml", good)
    assert code == 2 and "OpenVINO cannot read it as an IR" in err and len(err.strip().splitlines()) == 1
    # a directory: its images, by name (annotations.txt beside them left out)
    code, stdout, err = cli("predict", out / "ir" / "aocr.xml", good.parent)
    assert code == 0, err
    assert [line.split("\t")[0] for line in stdout.splitlines()] == \
        [str(path) for path in sorted(good.parent.glob("*.png"))]
    code, _, err = cli("predict", out / "ir" / "aocr.xml", tmp_path / "bare")
    assert code == 2 and "a directory with no image files" in err


def test_a_retrained_classifier_answers_with_its_own_labels_as_validation_did(cli, tmp_path):
    model = fixture_path("slim/retrained_mobilenet_0.25_128.pb")
    labels = fixture_path("slim/retrained_mobilenet_labels.txt")
    out = tmp_path / "run"
    code, _, err = cli("run", "mobilenet_v1_1.0_224", "--source", model, "-o", out, "--cache-dir", tmp_path / "cache",
                       "--set", f"validate.args={{labels: '{labels}'}}", "--set", "validate.count=26")
    assert code == 0, err
    samples = json.loads((out / "report.json").read_text())["validation"]["samples"]
    photos = {path.stem: path for path in skimage_data_dir().iterdir()}
    code, stdout, err = cli("predict", out / "ir" / "mobilenet_v1_1.0_224.xml",
                            *(photos[s["name"]] for s in samples), "--top-k", "1", "--json")
    assert code == 0, err
    answers = [json.loads(line)["classes"][0] for line in stdout.splitlines()]
    names = labels.read_text().splitlines()
    # The client crops and resizes as validation did: the same class as the validated IR, by name.
    assert [a[0] for a in answers] == [s["ir_top1"] for s in samples]
    assert [a[1] for a in answers] == [names[s["ir_top1"]] for s in samples]


def test_a_detector_answers_with_the_boxes_validation_counted(cli, tmp_path):
    out, report = run_aiy_detector(cli, tmp_path)
    photos = {path.stem: path for path in skimage_data_dir().iterdir()}
    code, stdout, err = cli("predict", out / "ir" / "aiy_person_cat_dog.xml",
                            *(photos[s["name"]] for s in report["validation"]["samples"]), "--json")
    assert code == 0, err
    boxes = [box for line in stdout.splitlines() for box in json.loads(line)["boxes"]]
    assert len(boxes) == report["validation"]["metrics"]["detections"]
    assert all(0 <= v <= 1 for box in boxes for v in box[3]) and {box[0] for box in boxes} <= {1, 2, 3}


def test_a_photo_stored_turned_is_read_upright_as_viewers_show_it(tmp_path):
    """Phones store a photo taken upright on its side and tag it (EXIF orientation); a viewer turns it
    back. The client and the validation photos do too, so boxes come back in the coordinates the user
    sees (TensorFlow's decoders ignore the tag)."""
    import numpy as np

    from ovconvert.families.images import load_rgb
    from ovconvert.predict import load_image

    photo = Image.open(skimage_data_dir() / "chelsea.png").convert("RGB")
    photo.save(tmp_path / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: stored turned a quarter anticlockwise; viewers turn it clockwise
    photo.rotate(90, expand=True).save(tmp_path / "turned.png", exif=exif.tobytes())
    photo.save(tmp_path / "bad-exif.png", exif=b"Exif\x00\x00not a TIFF header")  # Pillow: SyntaxError
    upright = np.asarray(photo)
    assert np.array_equal(np.asarray(load_image(tmp_path / "turned.png")), upright)
    for name in ("turned.png", "upright.png", "bad-exif.png"):  # a malformed EXIF block: as stored
        assert np.array_equal(load_rgb(tmp_path / name), upright), name
    assert np.array_equal(np.asarray(load_image(tmp_path / "bad-exif.png")), upright)
