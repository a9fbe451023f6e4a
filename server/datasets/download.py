"""Fetch a MovieLens dataset from GroupLens (``movierec download``, ``serve --demo=NAME``).

GroupLens publishes every dataset as ``<base>/<name>.zip`` with its MD5 beside it in
``<name>.zip.md5``. No checksums are pinned here: they are fetched with the archive at download
time (this code was written on a machine without internet, and a pinned value nobody checked
would be worse than none), so the check catches a truncated or corrupted transfer, not a
tampered server.

Nothing half-done is ever left where the dataset belongs: the archive goes to a temporary file
beside the destination, is checked, unpacked into a temporary directory, and only then renamed
into place, with a marker file holding the checksum it was verified against. A destination with
that marker is a finished download: asking again does nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path

from server.config import make_private_dir

# The MovieLens datasets GroupLens publishes, by the name of their archive.
KNOWN_DATASETS = (
    "ml-latest-small",
    "ml-latest",
    "ml-100k",
    "ml-1m",
    "ml-10m",
    "ml-20m",
    "ml-25m",
    "ml-32m",
)
# In a finished download: the MD5 of the archive it was unpacked from.
MARKER = ".movierec-download"
CHUNK_BYTES = 1 << 16
TIMEOUT_SECONDS = 30
_MD5 = re.compile(r"\b[0-9a-fA-F]{32}\b")

# Told (bytes so far, total bytes or None when the server does not say).
Progress = Callable[[int, int | None], None]


class DownloadError(Exception):
    """The dataset could not be fetched, checked or unpacked; the message is one line."""


@dataclass(frozen=True)
class Downloaded:
    """Where a dataset is, and whether this call fetched it (False: it was already there)."""

    path: Path
    fetched: bool
    md5: str


def dataset_path(name: str, root: Path) -> Path:
    """Where ``download`` puts (or finds) the dataset ``name`` under ``root``."""
    return root / name


def is_downloaded(name: str, root: Path) -> bool:
    """True when ``name`` was downloaded and verified into ``root`` before."""
    return (dataset_path(name, root) / MARKER).is_file()


def download(name: str, root: Path, base_url: str, progress: Progress | None = None) -> Downloaded:
    """Fetch ``<base_url>/<name>.zip``, check it against ``<name>.zip.md5`` and unpack it to
    ``root/<name>``; nothing is fetched when a verified copy is already there.

    ``DownloadError`` (one line, nothing left behind) for an unknown name, a destination that
    exists but is not a finished download, no network, an HTTP error, a checksum that does not
    match, an archive that is not a zip, or a disk that cannot hold it.
    """
    if name not in KNOWN_DATASETS:
        raise DownloadError(f"no dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")
    target = dataset_path(name, root)
    if is_downloaded(name, root):
        return Downloaded(target, False, (target / MARKER).read_text().split()[0])
    if target.exists():
        raise DownloadError(
            f"{target} exists but is not a finished download: remove it, or choose another "
            "destination"
        )
    url = f"{base_url.rstrip('/')}/{name}.zip"
    try:
        make_private_dir(root)
        expected = _published_md5(url + ".md5")
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as scratch:
            archive = Path(scratch) / f"{name}.zip"
            actual = _fetch(url, archive, progress)
            if actual != expected:
                raise DownloadError(
                    f"{url}: the download's MD5 is {actual}, the published one {expected}: "
                    "the transfer was damaged; try again"
                )
            _unpack(archive, Path(scratch) / "unpacked", target, f"{actual}  {name}.zip\n")
    except OSError as error:  # the disk, not the network (those are DownloadErrors already)
        raise DownloadError(f"cannot write under {root}: {error.strerror or error}") from None
    return Downloaded(target, True, expected)


def _published_md5(url: str) -> str:
    """The MD5 published at ``url`` (``MD5 (x.zip) = ...`` or ``... x.zip``)."""
    with _open(url) as response:
        text = response.read(4096).decode("ascii", "replace")
    found = _MD5.search(text)
    if found is None:
        raise DownloadError(f"{url} holds no MD5 checksum; not downloading")
    return found.group(0).lower()


def _fetch(url: str, path: Path, progress: Progress | None) -> str:
    """Stream ``url`` into ``path``; its MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    with _open(url) as response, path.open("wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done = 0
        while True:
            try:
                block = response.read(CHUNK_BYTES)
            except (OSError, ValueError) as error:  # the connection dropped mid-way
                raise DownloadError(f"{url}: the download stopped: {_reason(error)}") from None
            if not block:
                break
            out.write(block)
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    if total is not None and done != total:
        raise DownloadError(f"{url}: the download stopped after {done} of {total} bytes")
    return digest.hexdigest()


def _open(url: str) -> HTTPResponse:
    """The response to a GET of ``url``; ``DownloadError`` saying why there is none."""
    if not url.startswith(("https://", "http://")):
        raise DownloadError(f"{url}: only http:// and https:// URLs can be downloaded")
    # Only http(s), checked above: never file: or a custom scheme.
    request = urllib.request.Request(url, headers={"User-Agent": "movierec"})  # noqa: S310
    try:
        response: HTTPResponse = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: the server answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        host = urllib.parse.urlparse(url).netloc
        raise DownloadError(
            f"cannot reach {host} ({_reason(error)}): is this machine offline? "
            "'movierec serve --demo' runs on synthetic data without a network"
        ) from None
    return response


def _reason(error: BaseException) -> str:
    """The root cause of a network error, in a few words."""
    cause = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(cause, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(cause, socket.gaierror):
        return "the name does not resolve"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause) or type(cause).__name__


def _unpack(archive: Path, scratch: Path, target: Path, marker: str) -> None:
    """Unpack ``archive`` into ``scratch``, then rename the dataset's directory to ``target``
    (GroupLens's archives hold one top directory, not always named like the archive: ml-10m
    unpacks to ``ml-10M100K``)."""
    try:
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(scratch)  # drops ".." and absolute parts of member names
    except (zipfile.BadZipFile, EOFError) as error:
        raise DownloadError(f"{archive.name} is not a readable zip archive: {error}") from None
    entries = [entry for entry in scratch.iterdir() if entry.name != "__MACOSX"]
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else scratch
    (top / MARKER).write_text(marker)
    os.rename(top, target)  # on the same file system: the dataset appears whole or not at all
    shutil.rmtree(scratch, ignore_errors=True)
