"""report.html opened in a real browser (headless Chromium, Debian's `chromium`): the page renders and
every picture decodes. Skips where no Chromium is installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import run_aiy_detector

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium)")


def _rendered(page) -> str:
    """The page's DOM after the browser has loaded it and run its load handler."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    return done.stdout


@needs_chromium
def test_aocr_report_shows_each_word_with_both_readings(bundled_aocr_run):
    dom = _rendered(bundled_aocr_run.out / "report.html")
    assert re.search(r'data-images-shown="8"', dom), "all 8 word images decode in the browser"
    assert "TensorFlow <b>'OPENVINO'</b>" in dom and "<h2>Speed</h2>" in dom and "<h2>Precisions</h2>" in dom
    assert "--input_model" in dom and "Stages (" in dom


@needs_chromium
def test_detector_report_draws_both_sides_boxes_with_class_names(cli, tmp_path):
    out, report = run_aiy_detector(cli, tmp_path)
    dom = _rendered(out / "report.html")
    assert f'data-images-shown="{len(report["validation"]["samples"])}"' in dom
    assert re.search(r"TensorFlow</span> 1 box\(es\): (cat|person|dog) 0\.\d\d", dom)
    # the framework's boxes are in the pictures as well as in the JSON
    assert any(sample["boxes"]["framework"] for sample in report["validation"]["samples"])
