"""`pip install` of the wheel, used from another directory: the registry and the sample inputs come
with it (issue 14). The fresh virtual environment gets the wheel alone; its dependencies are lent from
this environment by a .pth line instead of being downloaded again (a plain path line does not run the
editable install's import hook, so the installed wheel is what gets imported)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

ENV = dict(os.environ, CI="true", TF_CPP_MIN_LOG_LEVEL="3")
ENV.pop("OVCONVERT_RECIPES", None)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the tracked files (the build must not write into the clone)."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in tracked)):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, env=ENV)
    (built,) = out.glob("ovconvert-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, env=ENV)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "lend-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_holds_every_file_of_the_registry(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "recipes"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    prefix = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.data/data/share/ovconvert/"
    missing = [path for path in tracked if prefix + path not in names]
    assert not missing, f"setup.cfg's data_files leave out {missing}"
    assert any(name.startswith("ovconvert/aocr/pretrained/") for name in names)
    assert "ovconvert/aocr/words/english.txt.gz" in names  # the spelling prior's (aocr/spelling.py)


def test_installed_package_lists_and_runs_a_recipe_from_another_directory(installed, tmp_path):
    ovconvert = installed / "bin" / "ovconvert"
    listing = subprocess.run([str(ovconvert), "list"], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert listing.returncode == 0, listing.stderr
    assert "aocr" in listing.stdout.split() and "ssd_mobilenet_v1_coco" in listing.stdout
    imported = subprocess.run([str(installed / "bin" / "python"), "-c", "import ovconvert; print(ovconvert.__file__)"],
                              cwd=tmp_path, capture_output=True, text=True, env=ENV).stdout
    assert str(installed) in imported, f"the wheel is not what runs: {imported}"
    run = subprocess.run([str(ovconvert), "run", "aocr", "-o", "out", "--no-bench"], cwd=tmp_path,
                         capture_output=True, text=True, env=ENV, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "converted" and report["validation"]["metrics"]["string_match"] == 1.0


def test_a_registry_of_ones_own_is_used_and_an_empty_one_is_an_error(installed, tmp_path):
    own = tmp_path / "registry"
    (own / "mine").mkdir(parents=True)
    shutil.copy(REPO / "recipes" / "slim" / "inception_v1_untrained.yaml", own / "mine" / "my_net.yaml")
    env = dict(ENV, OVCONVERT_RECIPES=str(own))
    listing = subprocess.run([str(installed / "bin" / "ovconvert"), "list"], cwd=tmp_path, capture_output=True,
                             text=True, env=env)
    assert listing.returncode == 0 and "my_net" in listing.stdout and "aocr" not in listing.stdout.split()
    empty = subprocess.run([str(installed / "bin" / "ovconvert"), "list"], cwd=tmp_path, capture_output=True,
                           text=True, env=dict(ENV, OVCONVERT_RECIPES=str(tmp_path / "nowhere")))
    assert empty.returncode == 2 and "OVCONVERT_RECIPES" in empty.stderr
