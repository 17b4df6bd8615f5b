"""Acquire: downloads from a loopback server, checksums, resume, the cache, and safe unpacking."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from conftest import sha384
from ovconvert.errors import ToolError, UserError
from ovconvert.recipes.schema import Download, Source
from ovconvert.stages.acquire import acquire, download, unpack


def _payload(root, name="model.bin", size=300_000):
    path = root / name
    path.write_bytes(os.urandom(size))
    return path


def test_download_verifies_and_caches(loopback, cache_dir):
    served = _payload(loopback.root)
    item = Download(loopback.url("model.bin"), sha384(served), served.stat().st_size)
    first = download(item, cache_dir)
    assert first.read_bytes() == served.read_bytes()
    assert download(item, cache_dir) == first
    assert len(loopback.requests) == 1, "the second call must come from the cache"


@pytest.mark.parametrize("field", ["size", "sha384"])
def test_mismatch_fails_and_leaves_no_cache_entry(loopback, cache_dir, field):
    served = _payload(loopback.root)
    good = {"size": served.stat().st_size, "sha384": sha384(served)}
    good[field] = good[field] + 1 if field == "size" else "0" * 96
    with pytest.raises(ToolError, match="SHA-384" if field == "sha384" else "bytes"):
        download(Download(loopback.url("model.bin"), good["sha384"], good["size"]), cache_dir)
    # (lock files stay, as pip's and every filelock user's do: deleting one races with a waiting process)
    assert not [p for p in cache_dir.rglob("*") if p.is_file() and p.suffix != ".lock"], \
        "nothing may stay in the cache"


def test_interrupted_download_resumes_with_a_range_request(loopback, cache_dir):
    served = _payload(loopback.root)
    item = Download(loopback.url("model.bin"), sha384(served), served.stat().st_size)
    loopback.cut_after = 100_000
    with pytest.raises(ToolError, match="stopped at 100000"):
        download(item, cache_dir, attempts=1)
    partial = next(cache_dir.rglob("*.partial"))
    assert partial.stat().st_size == 100_000
    assert not [p for p in cache_dir.rglob("model.bin")], "no complete-looking file after an interruption"
    result = download(item, cache_dir)
    assert result.read_bytes() == served.read_bytes()
    assert loopback.requests[-1]["range"] == "bytes=100000-"


def test_server_without_range_support_restarts_cleanly(loopback, cache_dir):
    served = _payload(loopback.root)
    item = Download(loopback.url("model.bin"), sha384(served), served.stat().st_size)
    loopback.cut_after, loopback.ranges = 50_000, False
    with pytest.raises(ToolError):
        download(item, cache_dir, attempts=1)
    assert download(item, cache_dir).read_bytes() == served.read_bytes()


def test_http_error_names_the_url(loopback, cache_dir):
    with pytest.raises(ToolError, match="HTTP 404"):
        download(Download(loopback.url("missing.tgz")), cache_dir)
    assert len(loopback.requests) == 1, "a 404 is not worth another attempt"


def test_a_cut_transfer_is_resumed_within_the_same_run(loopback, cache_dir, monkeypatch, caplog):
    monkeypatch.setattr("ovconvert.stages.acquire.BACKOFF_S", 0.01)
    served = _payload(loopback.root)
    loopback.cut_after = 100_000
    result = download(Download(loopback.url("model.bin"), sha384(served), served.stat().st_size), cache_dir)
    assert result.read_bytes() == served.read_bytes()
    assert [r["range"] for r in loopback.requests] == [None, "bytes=100000-"]
    assert "attempt 2 of 3" in caplog.text


def test_server_errors_are_tried_again_and_give_up_after_num_attempts(loopback, cache_dir, monkeypatch):
    monkeypatch.setattr("ovconvert.stages.acquire.BACKOFF_S", 0.01)
    served = _payload(loopback.root)
    item = Download(loopback.url("model.bin"), sha384(served), served.stat().st_size)
    loopback.fail_next = [503, 429]
    assert download(item, cache_dir, destination=cache_dir / "a" / "model.bin").read_bytes() == served.read_bytes()
    loopback.fail_next = [503, 503]
    with pytest.raises(ToolError, match=r"HTTP 503 .*\(after 2 attempts\)"):
        download(item, cache_dir, destination=cache_dir / "b" / "model.bin", attempts=2)
    assert not (cache_dir / "b" / "model.bin").exists()


def test_an_unpinned_download_prints_the_lines_to_paste_into_the_recipe(loopback, cache_dir, caplog):
    served = _payload(loopback.root)
    download(Download(loopback.url("model.bin")), cache_dir)
    assert f"size: {served.stat().st_size}\n  sha384: {sha384(served)}" in caplog.text


def test_num_attempts_must_be_at_least_one(cli, tmp_path):
    code, _, err = cli("run", "aocr", "-o", tmp_path / "out", "--num-attempts", "0")
    assert code == 2 and "--num-attempts 0" in err


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize("member, reason", [
    (_info("../evil.txt"), "unsafe member"),
    (_info("/etc/evil.txt"), "unsafe member"),
    (_info("link", kind=tarfile.SYMTYPE, link="../../outside"), "pointing outside"),
    (_info("abs-link", kind=tarfile.SYMTYPE, link="/etc/passwd"), "pointing outside"),
    (_info("dev", kind=tarfile.CHRTYPE), "device or FIFO"),
])
def test_unsafe_archives_are_refused(tmp_path, member, reason):
    archive = _tar(tmp_path / "bad.tar.gz", [_info("ok.txt"), member])
    target = tmp_path / "unpacked"
    with pytest.raises(UserError, match=reason):
        unpack(archive, target)
    assert not target.exists() and not list(tmp_path.glob("unpacked.partial-*"))
    assert not (tmp_path / "evil.txt").exists()


def test_zip_with_dotdot_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("../evil.txt", "x")
    with pytest.raises(UserError, match="unsafe member"):
        unpack(archive, tmp_path / "unpacked")


def test_truncated_archive_is_a_one_line_user_error(cli, tmp_path):
    archive = _tar(tmp_path / "inception_v1_2016_08_28.tar.gz", [_info("inception_v1.ckpt", os.urandom(200_000))])
    archive.write_bytes(archive.read_bytes()[:50_000])
    code, _, err = cli("run", "inception_v1", "--source", archive, "-o", tmp_path / "out",
                       "--cache-dir", tmp_path / "cache")
    assert code == 2
    assert "truncated or corrupt" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "ir").exists()


def test_missing_archive_member_names_what_is_there(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [_info("other.ckpt")])
    with pytest.raises(UserError, match="no member matching 'inception_v1.ckpt'.*other.ckpt"):
        unpack(archive, tmp_path / "unpacked", ("inception_v1.ckpt",))


def test_missing_local_source(cli, tmp_path):
    code, _, err = cli("run", "mobilenet_v1_0.25_128", "--source", tmp_path / "nope.pb", "-o", tmp_path / "out")
    assert code == 2 and "not found" in err


def test_archive_source_unpacks_into_cache(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [_info("inception_v1.ckpt", b"weights")])
    acquired = acquire(Source(path=str(archive), members=("inception_v1.ckpt",)), "slim", tmp_path / "cache")
    assert (acquired.directory / "inception_v1.ckpt").read_bytes() == b"weights"
