"""The builder environment of the TF1 Object Detection API: its PyPI sdist beside this project's TensorFlow.

`tf-models-research-object-detection` 2.8.0.post1 is the API's last PyPI release. Its declared
dependencies cannot be met beside TensorFlow 2.17 (pyparsing==2.4.7, all of tf-models-official's), yet
what the TF1 model builders and exporter.py really import is small: the sdist itself, its copy of the
Slim networks (`slim/nets`), tf-models-official's modules (imported, not used, by a few builders),
tensorflow-io (imported by one meta-architecture), contextlib2 and lxml. Those are installed with
--no-deps into one directory of the cache, outside ovconvert's own environment, and put on the
PYTHONPATH of the exporter's process only (odapi_exporter.py); nothing of them is imported here.

Made once per set of pins, staged beside and renamed into place, so an interrupted install leaves
nothing that looks usable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ovconvert.errors import ToolError

SDIST = "tf-models-research-object-detection==2.8.0.post1"
# Pinned so that the environment is the one measured in ../shared/notes/odapi-from-pypi.md.
PACKAGES = (SDIST, "tf-models-official==2.17.0", "tensorflow-io==0.37.1", "contextlib2==21.6.0", "lxml==5.3.0")
INSTALL_TIMEOUT_S = 900


def environment_dir() -> Path:
    from ovconvert.stages.acquire import cache_lock, default_cache_dir

    key = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]
    target = default_cache_dir() / "tools" / f"odapi-{key}"
    with cache_lock(target):
        if not (target / "READY").is_file():
            _install(target)
    return target


def process_environment(target: Path) -> dict:
    """os.environ for the exporter's process: the packages and the Slim networks first on the path (the
    exporter chooses protobuf's and Keras' implementations itself, in odapi_exporter.install_shims)."""
    paths = [str(target / "packages"), str(target / "slim")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                TF_CPP_MIN_LOG_LEVEL="2")


def _install(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        downloads = staging / "downloads"
        _pip(["download", "--no-deps", "--dest", str(downloads), *PACKAGES])
        _pip(["install", "--no-deps", "--target", str(staging / "packages"),
              *(str(p) for p in sorted(downloads.iterdir()))])
        (sdist,) = downloads.glob("tf_models_research_object_detection-*.tar.gz")
        _unpack_slim(sdist, staging / "slim")
        shutil.rmtree(downloads)
        (staging / "READY").write_text(" ".join(PACKAGES) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pip(arguments: list) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *arguments]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolError(f"pip took over {INSTALL_TIMEOUT_S} s to fetch the Object Detection API's builder "
                        "packages; check the connection to PyPI (or its mirror) and run again") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolError(f"pip could not fetch the Object Detection API's builder packages ({last}); they come "
                        f"from PyPI: {', '.join(PACKAGES)}", done.stderr[-2000:])


def _unpack_slim(sdist: Path, destination: Path) -> None:
    """The sdist's slim/nets (the API's feature extractors import `nets.mobilenet_v1` and friends)."""
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if "/slim/nets/" in m.name and (m.isfile() or m.isdir())]
        root = members[0].name.split("/slim/")[0] + "/slim/"
        for member in members:
            member.name = member.name[len(root):]
        archive.extractall(destination, members=members, filter="data")
