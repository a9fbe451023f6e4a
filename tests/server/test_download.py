"""``movierec download``: MovieLens archives fetched from a local HTTP server standing in for
GroupLens (a tiny zip written here; real MovieLens data is never committed), checked against the
published MD5, unpacked whole or not at all."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from server.datasets import Problems, open_dataset
from server.datasets.download import MARKER, DownloadError, download, is_downloaded

MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,Heat (1995),Crime\n"
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,100\n1,2,3.5,101\n2,1,5.0,102\n"


class Mirror:
    """A local GroupLens: serves a directory over HTTP and counts the requests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/datasets/movielens"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(
        self, name: str, md5: str | None = None, top: str | None = None, source: Path | None = None
    ) -> bytes:
        """Write ``name``.zip (its files under ``top``/, the name by default: the files of
        ``source``, or two tiny CSV files) and its .md5."""
        folder = self.root / "datasets" / "movielens"
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / f"{name}.zip"
        files = (
            {path.name: path.read_text() for path in source.iterdir()}
            if source is not None
            else {"movies.csv": MOVIES, "ratings.csv": RATINGS}
        )
        with zipfile.ZipFile(archive, "w") as zipped:
            for file_name, text in files.items():
                zipped.writestr(f"{top or name}/{file_name}", text)
        data = archive.read_bytes()
        digest = md5 or hashlib.md5(data, usedforsecurity=False).hexdigest()
        (folder / f"{name}.zip.md5").write_text(f"MD5 ({name}.zip) = {digest}\n")
        return data


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    served = Mirror(tmp_path / "grouplens")
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_a_download_is_checked_unpacked_and_not_fetched_again(
    mirror: Mirror, tmp_path: Path
) -> None:
    mirror.publish("ml-latest-small")
    root = tmp_path / "datasets"
    seen: list[tuple[int, int | None]] = []
    done = download("ml-latest-small", root, mirror.url, lambda n, total: seen.append((n, total)))
    assert done.fetched and done.path == root / "ml-latest-small"
    assert (done.path / "movies.csv").read_text() == MOVIES
    assert seen and seen[-1][0] == seen[-1][1]  # progress reached the whole length
    reader = open_dataset(done.path, Problems())
    assert len(list(reader.ratings())) == 3
    assert sorted(p.name for p in root.iterdir()) == ["ml-latest-small"]  # no leftovers
    asked = len(mirror.requests)
    again = download("ml-latest-small", root, mirror.url)
    assert not again.fetched and again.md5 == done.md5 and len(mirror.requests) == asked


def test_an_archive_with_another_top_directory_lands_under_its_name(
    mirror: Mirror, tmp_path: Path
) -> None:
    mirror.publish("ml-10m", top="ml-10M100K")
    download("ml-10m", tmp_path, mirror.url)
    assert (tmp_path / "ml-10m" / "ratings.csv").exists() and is_downloaded("ml-10m", tmp_path)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("wrong md5", "the transfer was damaged"),
        ("missing", "the server answered 404"),
        ("not a zip", "is not a readable zip archive"),
        ("exists", "exists but is not a finished download"),
    ],
)
def test_a_failed_download_says_why_and_leaves_nothing(
    mirror: Mirror, tmp_path: Path, setup: str, message: str
) -> None:
    root = tmp_path / "datasets"
    if setup == "wrong md5":
        mirror.publish("ml-100k", md5="0" * 32)
    elif setup == "not a zip":
        folder = mirror.root / "datasets" / "movielens"
        mirror.publish("ml-100k")
        (folder / "ml-100k.zip").write_bytes(b"not a zip")
        digest = hashlib.md5(b"not a zip", usedforsecurity=False).hexdigest()
        (folder / "ml-100k.zip.md5").write_text(f"{digest}  ml-100k.zip\n")
    elif setup == "exists":
        mirror.publish("ml-100k")
        (root / "ml-100k").mkdir(parents=True)
    with pytest.raises(DownloadError, match=message) as failed:
        download("ml-100k", root, mirror.url)
    assert "\n" not in str(failed.value)
    left = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert left == (["ml-100k"] if setup == "exists" else [])
    assert not (root / "ml-100k" / MARKER).exists()


def movierec(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_downloads_into_the_data_directory_and_explains_offline(
    mirror: Mirror, tmp_path: Path
) -> None:
    mirror.publish("ml-latest-small")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    env = environ | {
        "MOVIEREC_DATA_DIR": str(tmp_path / "data"),
        "MOVIEREC_DATASETS_URL": mirror.url,
    }
    first = movierec("download", "ml-latest-small", env=env)
    assert first.returncode == 0, first.stderr
    target = tmp_path / "data" / "datasets" / "ml-latest-small"
    assert f"downloaded ml-latest-small to {target}" in first.stdout
    assert f"movierec import {target}" in first.stdout
    again = movierec("download", "ml-latest-small", env=env)
    assert "already downloaded and verified" in again.stdout
    chosen = movierec("download", "ml-latest-small", "--to", str(tmp_path / "elsewhere"), env=env)
    assert chosen.returncode == 0 and (tmp_path / "elsewhere" / "ml-latest-small").is_dir()
    unknown = movierec("download", "ml-5m", env=env)
    assert unknown.returncode == 2 and "ml-latest-small" in unknown.stderr
    mirror.server.shutdown()
    mirror.server.server_close()  # now nothing listens there: as good as offline
    offline = movierec("download", "ml-1m", env=env)
    assert offline.returncode == 1 and "Traceback" not in offline.stderr
    assert offline.stderr.strip().count("\n") == 0, offline.stderr
    assert "cannot reach 127.0.0.1" in offline.stderr and "offline" in offline.stderr
    assert not (tmp_path / "data" / "datasets" / "ml-1m").exists()


def test_serve_demo_with_a_dataset_name_downloads_it_first(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish("ml-latest-small")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    env = environ | {
        "MOVIEREC_DATA_DIR": str(tmp_path / "data"),
        "MOVIEREC_DATASETS_URL": mirror.url,
    }
    other = tmp_path / "other"
    other.mkdir()
    (other / "movies.csv").write_text("movieId,title,genres\n1,Alien (1979),Horror\n")
    (other / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n")
    assert movierec("import", "--quiet", str(other), env=env).returncode == 0
    # another catalogue is in the database: the dataset is downloaded, compared, and refused
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    served = movierec("serve", "--port", port, "--demo=ml-latest-small", env=env)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert "downloaded ml-latest-small to " in served.stdout
    assert "ml-latest-small: 1 of the 1 movie ids" in served.stderr
    assert is_downloaded("ml-latest-small", tmp_path / "data" / "datasets")
