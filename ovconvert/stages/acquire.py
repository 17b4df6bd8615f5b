"""Stage 1, acquire: get the source model onto disk, verified, and unpacked if it is an archive.

A source is a URL (downloaded into a cache keyed by its SHA-384), a local path, or a builder (a family
function that makes the files, e.g. an untrained network in the real archive layout). Nothing reaches
the cache half-written: downloads go to `<name>.partial` (resumed with an HTTP Range request when the
server allows) and are renamed only after size and checksum match; archives unpack into a temporary
directory renamed into place once complete. Each cache entry has a lock file (filelock: portable, and
released by the OS when a process dies), so two runs that need the same entry do not both write it: the
second waits and then reuses what the first made.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import lzma
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Optional

from ovconvert.errors import ToolError, UserError
from ovconvert.recipes.schema import Download, Source

log = logging.getLogger(__name__)
CHUNK = 1 << 20
# Unpacking limits (docs/reliability.md): the largest zoo archives unpack to about 1.5 GB at a ratio
# under 2:1; a member that expands far more is a decompression bomb, not a model.
MAX_UNPACKED_BYTES = 16 << 30
MAX_RATIO = 100  # unpacked / packed, checked once the contents pass MIN_RATIO_CHECK_BYTES
MIN_RATIO_CHECK_BYTES = 64 << 20
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class Acquired:
    file: Path  # the downloaded/local/built file or directory itself (${source})
    directory: Path  # where its contents are: the unpacked archive or the file's folder (${download_dir})
    sha384: Optional[str] = None


# Attempts per download (omz_downloader's --num_attempts): a cut transfer, a timeout, a refused
# connection or an HTTP 5xx/429 is tried again, resuming from what arrived, after 1, 2, 4… s.
ATTEMPTS = 3
BACKOFF_S = 1.0


class _Transient(ToolError):
    """A download failure worth another attempt: the network or the server, not the request."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("OVCONVERT_CACHE", Path.home() / ".cache" / "ovconvert"))


def acquire(source: Source, family: str, cache_dir: Path, attempts: int = ATTEMPTS) -> Acquired:
    if source.path is not None:
        path = Path(source.path)
        if not path.exists():
            raise UserError(f"source {path} not found; check the path given to --source or source.path")
        if path.is_file() and is_archive(path):
            return Acquired(path, unpack(path, cache_dir / "unpacked" / f"local-{_file_key(path)}", source.members))
        return Acquired(path, path if path.is_dir() else path.parent)
    if source.builder is not None:
        built = build(source, family, cache_dir)
        if is_archive(built):
            return Acquired(built, unpack(built, built.parent / "unpacked", source.members))
        return Acquired(built, built if built.is_dir() else built.parent)
    downloaded = download(Download(source.url, source.sha384, source.size), cache_dir, attempts=attempts)
    if is_archive(downloaded):
        key = source.sha384 or _file_key(downloaded)
        return Acquired(downloaded, unpack(downloaded, cache_dir / "unpacked" / key[:32], source.members),
                        source.sha384)
    return Acquired(downloaded, downloaded.parent, source.sha384)


@contextmanager
def cache_lock(entry: Path):
    """Hold the lock of one cache entry (a download, an unpacked archive, a built source)."""
    from filelock import FileLock, Timeout

    entry.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(entry.with_name(entry.name + ".lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another ovconvert that is preparing %s", entry.name)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


# --------------------------------------------------------------------------------------------- download


def download(item: Download, cache_dir: Path, destination: Optional[Path] = None, attempts: int = ATTEMPTS) -> Path:
    """Fetch one URL into the cache (or to destination), verified against its size and SHA-384; up to
    `attempts` tries for transient failures, each resuming the last."""
    name = item.save_as or PurePosixPath(urllib.request.urlparse(item.url).path).name or "download"
    if destination is None:
        key = item.sha384[:32] if item.sha384 else "unverified-" + hashlib.sha256(item.url.encode()).hexdigest()[:24]
        destination = cache_dir / "downloads" / key / name
        if (cache_dir / "downloads" / key).resolve() not in destination.resolve().parents:
            raise UserError(f"save_as {name!r} would be written outside the cache; give a file name")
    with cache_lock(destination):
        return _download_locked(item, destination, max(1, attempts))


def _download_locked(item: Download, destination: Path, attempts: int) -> Path:
    if destination.is_file() and (item.sha384 is None or _sha384(destination) == item.sha384):
        log.info("cached: %s", destination)
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    for attempt in range(1, attempts + 1):
        try:
            server_size = _fetch(item.url, partial, item.size)
            actual_size = partial.stat().st_size
            if server_size is not None and actual_size < server_size:
                # Kept: the next attempt (or run) resumes from here with a Range request.
                raise _Transient(f"download of {item.url} stopped at {actual_size} of {server_size} bytes; "
                                 "run again to resume")
            break
        except _Transient as error:
            if attempt == attempts:
                raise ToolError(error.one_line() + (f" (after {attempts} attempts)" if attempts > 1 else "")) \
                    from None
            wait = BACKOFF_S * 2 ** (attempt - 1)
            log.warning("%s; attempt %d of %d in %g s", error.one_line().split(";")[0], attempt + 1, attempts, wait)
            time.sleep(wait)
    if item.size is not None and actual_size != item.size:
        partial.unlink()
        if actual_size > item.size:
            raise ToolError(f"download of {item.url} sent more than the {item.size} bytes the recipe expects; "
                            "stopped (the file changed or the server misbehaves): fix source.size or the URL")
        raise ToolError(f"download of {item.url} has {actual_size} bytes, the recipe expects {item.size}: "
                        "the transfer was cut or the file changed; run again, or fix source.size")
    digest = _sha384(partial)
    if item.sha384 is not None and digest != item.sha384:
        partial.unlink()
        raise ToolError(f"download of {item.url} has SHA-384 {digest[:16]}…, the recipe expects "
                        f"{item.sha384[:16]}…: the file is corrupt or changed; run again, or fix source.sha384 "
                        "if the new file is trusted")
    if item.sha384 is None:  # the line to paste into the recipe, so the next run verifies the file
        log.warning("%s has no SHA-384 in the recipe; pin it by adding to the recipe's source:\n"
                    "  size: %d\n  sha384: %s", item.url, actual_size, digest)
    partial.replace(destination)
    return destination


def _fetch(url: str, partial: Path, expected_size: Optional[int]) -> Optional[int]:
    """Append the rest of url to partial; returns the file's full size as the server reports it."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ovconvert"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left to fetch: the partial file is complete
            return offset
        kind = _Transient if error.code >= 500 or error.code == 429 else ToolError
        raise kind(f"download of {url} failed: HTTP {error.code} {error.reason}; check source.url") from None
    except (urllib.error.URLError, OSError) as error:
        raise _Transient(f"download of {url} failed: {getattr(error, 'reason', error)}; check the network "
                         "or download the file yourself and pass --source PATH") from None
    with response:
        resumed = offset and response.status == 206
        if offset and not resumed:
            log.info("server ignored the range request; downloading %s from the start", url)
        length = response.headers.get("Content-Length")
        total = int(length) + (offset if resumed else 0) if length else None
        progress = _Progress(url, total or expected_size, offset if resumed else 0)
        try:
            limit = expected_size if expected_size is not None else total
            with open(partial, "ab" if resumed else "wb") as out:
                written = offset if resumed else 0
                # Read at most one byte past the size we expect: a server that never stops sending
                # (or lies about Content-Length) cannot fill the disk.
                while chunk := response.read(CHUNK if limit is None else min(CHUNK, limit + 1 - written)):
                    out.write(chunk)
                    written += len(chunk)
                    progress.advance(len(chunk))
                    if limit is not None and written > limit:
                        break
        except (OSError, urllib.error.URLError, http.client.HTTPException) as error:
            raise _Transient(f"download of {url} was interrupted ({error}); run again to resume") from None
        finally:
            progress.done()
    return total


class _Progress:
    def __init__(self, url: str, total: Optional[int], done: int):
        self.label, self.total, self.done_bytes = PurePosixPath(url).name, total, done
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def advance(self, count: int) -> None:
        self.done_bytes += count
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        percent = f"{100 * self.done_bytes / self.total:5.1f}%" if self.total else ""
        text = f"downloading {self.label}: {self.done_bytes / 1e6:8.1f} MB {percent}"
        print(("\r" + text) if self.tty else text, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty and self.last:
            print(file=sys.stderr)


def _sha384(path: Path) -> str:
    digest = hashlib.sha384()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _file_key(path: Path) -> str:
    status = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{status.st_size}:{status.st_mtime_ns}".encode()).hexdigest()[:24]


# ----------------------------------------------------------------------------------------------- unpack


def unpack(archive: Path, target: Path, members: tuple[str, ...] = ()) -> Path:
    """Unpack safely into target (once): refuse absolute paths, `..`, links leaving the archive, devices."""
    with cache_lock(target):
        return _unpack_locked(archive, target, members)


def _unpack_locked(archive: Path, target: Path, members: tuple[str, ...]) -> Path:
    if target.is_dir():
        _check_members(target, members, archive)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".partial-", dir=target.parent))
    try:
        if archive.name.endswith(".zip"):
            _unpack_zip(archive, staging)
        else:
            _unpack_tar(archive, staging)
        _check_members(staging, members, archive)
        staging.replace(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _safe_member_path(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts:
        raise UserError(f"archive {archive.name} has an unsafe member '{name}' (absolute or with '..'); "
                        "refusing to unpack it — get the archive from a trusted source")
    return path


class _Budget:
    """The unpacking limits: total size, and ratio to the archive's size (decompression bombs)."""

    def __init__(self, archive: Path):
        self.archive, self.packed, self.total = archive, max(archive.stat().st_size, 1), 0

    def add(self, name: str, size: int) -> None:
        self.total += size
        if self.total > MAX_UNPACKED_BYTES or (self.total > MIN_RATIO_CHECK_BYTES
                                               and self.total > MAX_RATIO * self.packed):
            raise UserError(f"archive {self.archive.name} expands past the unpacking limit at member '{name}' "
                            f"({self.total / 1e6:.0f} MB from {self.packed / 1e6:.1f} MB; limits "
                            f"{MAX_UNPACKED_BYTES >> 30} GiB and {MAX_RATIO}:1); refusing it as a likely "
                            "decompression bomb — get the archive from a trusted source")


def _unpack_tar(archive: Path, staging: Path) -> None:
    budget = _Budget(archive)
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                path = _safe_member_path(member.name, archive)
                budget.add(member.name, member.size if member.isfile() else 0)
                if member.isdev() or member.isfifo():
                    raise UserError(f"archive {archive.name} has a device or FIFO member '{member.name}'; "
                                    "refusing to unpack it")
                if member.issym() or member.islnk():
                    link = PurePosixPath(member.linkname)
                    resolved = link if member.islnk() else path.parent / link
                    if link.is_absolute() or ".." in PurePosixPath(os.path.normpath(resolved)).parts:
                        raise UserError(f"archive {archive.name} has a link '{member.name}' → '{member.linkname}' "
                                        "pointing outside the archive; refusing to unpack it")
                try:
                    tar.extract(member, staging, set_attrs=False, filter="data")
                except KeyError:  # a hard link to a member the archive does not have
                    raise UserError(f"archive {archive.name} has a hard link '{member.name}' to "
                                    f"'{member.linkname}', which is not in the archive; the archive is damaged — "
                                    "get it again from its source") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError) as error:
        raise UserError(f"archive {archive} is truncated or corrupt ({error or type(error).__name__}); "
                        "delete it and download it again") from None


def _unpack_zip(archive: Path, staging: Path) -> None:
    try:
        budget = _Budget(archive)
        with zipfile.ZipFile(archive) as package:
            for info in package.infolist():
                _safe_member_path(info.filename, archive)
                budget.add(info.filename, info.file_size)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise UserError(f"archive {archive.name} has a symbolic link '{info.filename}'; "
                                    "refusing to unpack it")
                package.extract(info, staging)
    except (zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"archive {archive} is truncated or corrupt ({error}); delete it and download it again") \
            from None


def _check_members(directory: Path, members: tuple[str, ...], archive: Path) -> None:
    present = [p.relative_to(directory).as_posix() for p in directory.rglob("*")]
    for pattern in members:
        if not any(fnmatch(name, pattern) for name in present):
            raise UserError(f"archive {archive.name} has no member matching '{pattern}' "
                            f"(it has: {', '.join(sorted(present)[:6])}{'…' if len(present) > 6 else ''}); "
                            "fix source.members")


# ---------------------------------------------------------------------------------------------- builder


def pack_directory(staging: Path, archive: Path) -> Path:
    """What a source builder ends with: the files of `staging` at the top level of a .tar.gz (the layout
    of the TF-hosted archives it imitates), then `staging` removed."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(staging.iterdir()):
            tar.add(path, arcname=path.name)
    shutil.rmtree(staging)
    return archive


def build(source: Source, family: str, cache_dir: Path) -> Path:
    """Run a family's source builder once per (builder, args); the result is cached like a download."""
    from ovconvert import families

    builder = families.get(family).SOURCE_BUILDERS.get(source.builder)
    if builder is None:
        known = ", ".join(families.get(family).SOURCE_BUILDERS) or "none"
        raise UserError(f"source.builder: unknown builder {source.builder!r} for family {family} (known: {known})")
    # A family whose built source depends on files (a checkpoint) adds their fingerprint to the key.
    fingerprint = getattr(families.get(family), "source_fingerprint", lambda builder, args: "")
    key = hashlib.sha256(json.dumps([family, source.builder, dict(source.builder_args),
                                     fingerprint(source.builder, dict(source.builder_args))], sort_keys=True)
                         .encode()).hexdigest()[:24]
    target = cache_dir / "built" / key
    with cache_lock(target):
        return _build_locked(builder, source, key, target)


def _build_locked(builder, source: Source, key: str, target: Path) -> Path:
    marker = target / "BUILT"
    if marker.is_file():
        return target / marker.read_text().strip()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=key + ".partial-", dir=target.parent))
    try:
        made = builder(dict(source.builder_args), staging)
        (staging / "BUILT").write_text(made.relative_to(staging).as_posix())
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target / marker.read_text().strip()
