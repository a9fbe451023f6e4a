"""Where trained models are kept: a directory (the data directory's ``models`` by default, shared
by the workers and the web processes) or an S3 bucket (``MOVIEREC_ARTIFACTS_URL=s3://bucket/
prefix``: web processes and workers then share no files).

Either way a version is published atomically under ``<algorithm>/<number>``, and the reference
the ``model_versions`` row keeps (``ModelVersion.artifact``) says where: a directory's path, or
an ``s3://`` URL. In a directory the rename is the publish. In S3 the files go first and the
manifest (``manifest.json``: every file with its size) last: a reader trusts a version only once
its manifest exists and the files it downloaded have the sizes the manifest lists. Readers load
from a local directory either way (plugins memory-map their arrays): an S3 version is downloaded
once into ``<data dir>/artifact-cache/<algorithm>/<number>``, renamed into place whole, so two
processes never see a half copy.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from plugins.base import Recommender
from server.config import Settings
from server.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

S3_SCHEME = "s3://"
MANIFEST = "manifest.json"
FILES = "files"  # a version's files are kept apart from its manifest: a plugin names its own
_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
# What talking to S3 raises: botocore's errors, and ours for what it answers (a refused delete).
S3_ERRORS = (BotoCoreError, ClientError, OSError)


class ArtifactUnavailable(Unavailable):
    """A version's artifact cannot be loaded (missing, unfinished, or its store unreachable)."""

    code = "artifact_unavailable"


class ArtifactStore(Protocol):
    """Where trained models are published, fetched for loading and removed."""

    def publish(self, model: Recommender, algorithm: str, number: int) -> str:
        """Save ``model`` as version ``number`` of ``algorithm``, all or nothing; the reference
        to keep in ``ModelVersion.artifact``."""
        ...

    def fetch(self, reference: str) -> Path:
        """The local directory holding the published version ``reference``, for
        ``Registry.load``; ``ArtifactUnavailable`` when it cannot be had whole."""
        ...

    def remove(self, reference: str) -> None:
        """Delete a published version; one already gone is fine."""
        ...

    def remove_leftovers(self, algorithm: str) -> None:
        """Delete what publishes of ``algorithm`` that never finished left behind (their worker
        was killed). Only called under the algorithm's training lock: no publish of it runs."""
        ...


def artifact_store(settings: Settings) -> ArtifactStore:
    """The store ``MOVIEREC_ARTIFACTS_URL`` names."""
    if settings.artifacts_url.startswith(S3_SCHEME):
        bucket, prefix = split_s3_url(settings.artifacts_url)
        return S3Store(bucket, prefix, settings.s3_endpoint_url, settings.artifact_cache_dir)
    return DirectoryStore(settings.models_dir)


@dataclass(frozen=True)
class DirectoryStore:
    """Versions as directories ``<root>/<algorithm>/<number>``; the reference is the path."""

    root: Path

    def publish(self, model: Recommender, algorithm: str, number: int) -> str:
        return str(save_atomically(model, self.root / algorithm, number))

    def fetch(self, reference: str) -> Path:
        if reference.startswith(S3_SCHEME):
            raise ArtifactUnavailable(
                f"the model {reference} is in S3, but MOVIEREC_ARTIFACTS_URL names a directory"
            )
        return existing_directory(reference)

    def remove(self, reference: str) -> None:
        remove_path(Path(reference))

    def remove_leftovers(self, algorithm: str) -> None:
        remove_leftovers(self.root / algorithm)


class S3Store:
    """Versions as objects under ``s3://<bucket>/<prefix>/<algorithm>/<number>/``: ``files/...``
    and, written last, ``manifest.json``. Credentials come from boto3's own chain (environment,
    profile, instance role); ``endpoint_url`` names an S3-compatible store (empty: AWS)."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str, cache_dir: Path) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.cache_dir = cache_dir

    @cached_property
    def client(self) -> S3Client:
        """Made on first use (boto3 takes a while to import), in a session of its own: boto3's
        default session keeps the first credentials it found."""
        import boto3
        from botocore.config import Config

        config = Config(retries={"max_attempts": 5, "mode": "standard"})
        session = boto3.session.Session()
        return session.client("s3", endpoint_url=self.endpoint_url or None, config=config)

    def publish(self, model: Recommender, algorithm: str, number: int) -> str:
        # Saved where this host's readers look for a downloaded copy; trusted only with the
        # manifest, like any copy. A copy of this number already there is stale (the database
        # numbers versions, and it was made anew): nobody asks for it.
        remove_path(self.cache_dir / algorithm / str(number))
        local = save_atomically(model, self.cache_dir / algorithm, number)
        version = _key(self.prefix, algorithm, str(number))
        url = f"{S3_SCHEME}{self.bucket}/{version}"
        try:
            sizes = self._upload(local, version)
            manifest = {"algorithm": algorithm, "number": number, "files": sizes}
            self.client.put_object(
                Bucket=self.bucket,
                Key=_key(version, MANIFEST),
                Body=json.dumps(manifest, indent=1).encode(),
                ContentType="application/json",
            )
        except Exception as error:  # boto3's, botocore's or the disk's: nothing may be left
            self._delete_quietly(version)
            shutil.rmtree(local, ignore_errors=True)
            raise OSError(f"cannot save the model in {url}: {error}") from error
        return url

    def _upload(self, local: Path, version: str) -> dict[str, int]:
        """Upload every file under ``local``; each one's size by its relative path."""
        sizes: dict[str, int] = {}
        for path in sorted(local.rglob("*")):
            if path.is_dir():
                continue
            name = path.relative_to(local).as_posix()
            sizes[name] = path.stat().st_size
            self.client.upload_file(str(path), self.bucket, _key(version, FILES, name))
        return sizes

    def fetch(self, reference: str) -> Path:
        if not reference.startswith(S3_SCHEME):  # published before the store moved to S3
            return existing_directory(reference)
        bucket, version = split_s3_url(reference)
        manifest = self._manifest(reference, bucket, version)
        algorithm, number = PurePosixPath(version).parts[-2:]
        target = self.cache_dir / algorithm / number
        if _holds(target, manifest):
            return target
        try:
            return self._download(bucket, version, manifest, target)
        except S3_ERRORS as error:
            raise ArtifactUnavailable(f"cannot download the model {reference}: {error}") from None

    def _manifest(self, reference: str, bucket: str, version: str) -> dict[str, int]:
        """The files of a published version with their sizes, from its manifest."""
        try:
            answer = self.client.get_object(Bucket=bucket, Key=_key(version, MANIFEST))
            files = json.loads(answer["Body"].read())["files"]
        except ClientError as error:
            if _error_code(error) in ("NoSuchKey", "404"):
                raise ArtifactUnavailable(
                    f"the model {reference} has no manifest: its upload did not finish or it "
                    "was removed, so it is not loaded"
                ) from None
            raise ArtifactUnavailable(f"cannot read the model {reference}: {error}") from None
        except BotoCoreError as error:
            raise ArtifactUnavailable(f"cannot read the model {reference}: {error}") from None
        except (ValueError, KeyError, TypeError):
            raise ArtifactUnavailable(f"the model {reference} has a malformed manifest") from None
        return _checked_files(files, reference)

    def _download(self, bucket: str, version: str, manifest: dict[str, int], target: Path) -> Path:
        """Download into a directory of this call's own, check the sizes, rename it into
        place; a copy another process renamed there first is as good."""
        temporary = target.parent / f".{target.name}.download-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            for name, size in manifest.items():
                path = temporary / name
                path.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(bucket, _key(version, FILES, name), str(path))
                if path.stat().st_size != size:
                    raise OSError(f"{name} has {path.stat().st_size} bytes, not {size}")
            _replace_directory(temporary, target, manifest)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        return target

    def remove(self, reference: str) -> None:
        if not reference.startswith(S3_SCHEME):
            remove_path(Path(reference))
            return
        bucket, version = split_s3_url(reference)
        algorithm, number = PurePosixPath(version).parts[-2:]
        remove_path(self.cache_dir / algorithm / number)
        try:  # the manifest first: from then on no reader trusts what is left
            self.client.delete_object(Bucket=bucket, Key=_key(version, MANIFEST))
            self._delete(bucket, version)
        except S3_ERRORS as error:  # as for a directory: not worth failing for
            log.warning("cannot remove the model %s (delete it by hand): %s", reference, error)

    def remove_leftovers(self, algorithm: str) -> None:
        remove_leftovers(self.cache_dir / algorithm)
        versions: dict[str, list[str]] = {}
        for key in self._keys(self.bucket, _key(self.prefix, algorithm)):
            number = key.split("/")[0]
            versions.setdefault(number, []).append(key)
        for number, keys in versions.items():
            if f"{number}/{MANIFEST}" not in keys:  # never published: nobody trusts it
                self._delete(self.bucket, _key(self.prefix, algorithm, number))

    def _keys(self, bucket: str, folder: str) -> list[str]:
        """The keys under ``folder``, relative to it."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=folder + "/"
        )
        return [
            item["Key"][len(folder) + 1 :] for page in pages for item in page.get("Contents", [])
        ]

    def _delete(self, bucket: str, folder: str) -> None:
        """Delete every object under ``folder``; ``OSError`` when S3 refuses any (it answers
        200 and names them)."""
        keys = [_key(folder, key) for key in self._keys(bucket, folder)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            answer = self.client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            if refused := answer.get("Errors", []):
                first = refused[0]
                raise OSError(
                    f"S3 refused to delete {len(refused)} objects under s3://{bucket}/{folder}, "
                    f"{first.get('Key')} first: {first.get('Code')}"
                )

    def _delete_quietly(self, folder: str) -> None:
        """``_delete`` after a failed publish: a failure here (the store still unreachable) is
        logged, and the next retrain's ``remove_leftovers`` tries again."""
        try:
            self._delete(self.bucket, folder)
        except S3_ERRORS as error:
            log.warning("cannot remove the unfinished upload %s: %s", folder, error)


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as its bucket and key prefix (without slashes at its ends)."""
    bucket, _, prefix = url.removeprefix(S3_SCHEME).partition("/")
    return bucket, prefix.strip("/")


def save_atomically(model: Recommender, directory: Path, number: int) -> Path:
    """Save into a temporary directory, then rename it into place: readers never see a half-
    written artifact. A failed save (a full disk, a read-only directory, a plugin's error)
    removes its temporary directory; an ``OSError`` is raised again naming the directory."""
    final = directory / str(number)
    temporary = directory / f".{number}.tmp-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temporary, ignore_errors=True)
        model.save(temporary)
        os.replace(temporary, final)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, OSError) and error.errno is not None:
            reason = error.strerror or str(error)
            raise OSError(error.errno, f"cannot save the model in {directory}: {reason}") from error
        raise
    return final


def remove_leftovers(directory: Path) -> None:
    """Remove the temporary directories of saves that never finished (their worker was killed).
    Only called under the algorithm's lock, so no save of it is running."""
    for leftover in directory.glob(".*.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def existing_directory(reference: str) -> Path:
    """A directory artifact's path; ``ArtifactUnavailable`` when it is not there."""
    path = Path(reference)
    if not path.is_dir():
        raise ArtifactUnavailable(f"the model directory {reference} does not exist")
    return path


def remove_path(path: Path) -> None:
    """Delete a model artifact, a directory or a file; one already gone is fine."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _key(*parts: str) -> str:
    """An object key of ``parts``, an empty prefix left out."""
    return "/".join(part for part in parts if part)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _checked_files(files: Any, reference: str) -> dict[str, int]:
    """The manifest's files, each a relative path inside the version with a size: a manifest
    must not make a reader write outside its cache."""
    malformed = ArtifactUnavailable(f"the model {reference} has a malformed manifest")
    if not isinstance(files, dict) or not files:
        raise malformed
    for name, size in files.items():
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not isinstance(size, int) or size < 0:
            raise malformed
    return files


def _holds(directory: Path, manifest: dict[str, int]) -> bool:
    """Whether ``directory`` holds the manifest's files with their sizes."""
    try:
        return all((directory / name).stat().st_size == size for name, size in manifest.items())
    except OSError:
        return False


def _replace_directory(source: Path, target: Path, manifest: dict[str, int]) -> None:
    """Rename ``source`` to ``target``; when another process's complete copy is there already,
    keep it. A stale copy (another store's version of the same number) is moved aside first:
    processes that mapped its files keep them."""
    try:
        os.replace(source, target)
        return
    except OSError:
        if _holds(target, manifest):
            return
    stale = target.parent / f".{target.name}.stale-{os.getpid()}-{secrets.token_hex(4)}"
    os.replace(target, stale)
    shutil.rmtree(stale, ignore_errors=True)
    os.replace(source, target)
