"""Model artifacts in S3 (``MOVIEREC_ARTIFACTS_URL=s3://bucket/prefix``), against a real
S3-compatible server on 127.0.0.1 (moto's server mode): a worker publishes, a web process with
a data directory of its own (no shared files) downloads and serves; a version without its
manifest is never loaded; a refused upload leaves no manifest; leftovers and replaced versions
are removed."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from server import create_app
from server.artifacts import ArtifactUnavailable, S3Store, artifact_store
from server.config import Settings, SettingsError
from server.db import Database
from server.models import ModelVersion
from server.services.imports import replace_catalogue
from tests.conftest import SERVICE_AUTH
from workers.context import WorkerContext, build_context
from workers.training import RetrainStatus, retrain

ALGORITHM = "popularity"  # the quickest to train; every plugin is published the same way
PREFIX = "models/prod"


class S3:
    """The test's S3 server: its endpoint, its bucket and a client of it."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=endpoint)

    def object_keys(self, under: str = PREFIX) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=under + "/")
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def moto(self, action: str, body: bytes) -> None:
        """Call moto's own control API (reset, authentication)."""
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/{action}", data=body, headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """moto's S3 server on a free port of 127.0.0.1 with an empty bucket; dummy credentials in
    the environment for this test only (boto3's chain reads them, as it would real ones)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    store = S3(f"http://{host}:{port}", f"movierec-{uuid.uuid4().hex[:8]}")
    store.client.create_bucket(Bucket=store.bucket)
    try:
        yield store
    finally:
        store.moto("reset-auth", b"inf")  # moto's state lives in this process: leave it clean
        store.moto("reset", b"")
        server.stop()


@pytest.fixture
def s3_settings(pipeline_settings: dict[str, Any], s3: S3) -> dict[str, Any]:
    """The pipeline's settings with the artifacts in the test's bucket."""
    return pipeline_settings | {
        "artifacts_url": f"s3://{s3.bucket}/{PREFIX}/",
        "s3_endpoint_url": s3.endpoint,
    }


@pytest.fixture
def worker(s3_settings: dict[str, Any]) -> WorkerContext:
    """A worker's context (trains in the test process) on the test's S3."""
    return build_context(Settings.load(s3_settings))


def web_process(s3_settings: dict[str, Any], data_dir: Path) -> FlaskClient:
    """A web app sharing the database, Redis and bucket, but no directory, with the worker."""
    return create_app(s3_settings | {"data_dir": data_dir}).test_client()


def recommendations(client: FlaskClient) -> Any:
    return client.get(
        "/api/v1/users/1/recommendations",
        query_string={"algorithm": ALGORITHM},
        headers=SERVICE_AUTH,
    )


def version_url(s3: S3, number: int) -> str:
    return f"s3://{s3.bucket}/{PREFIX}/{ALGORITHM}/{number}"


def artifacts(database: Database) -> dict[int, tuple[str, str | None]]:
    with database.transaction() as session:
        rows = session.scalars(select(ModelVersion).where(ModelVersion.algorithm == ALGORITHM))
        return {row.number: (row.status, row.artifact) for row in rows}


def test_a_retrain_publishes_to_s3_and_a_web_process_elsewhere_serves_it(
    seeded: Database,
    worker: WorkerContext,
    s3: S3,
    s3_settings: dict[str, Any],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    outcome = retrain(worker, ALGORITHM)
    assert (outcome.status, outcome.version) == (RetrainStatus.PROMOTED, 1)
    assert artifacts(seeded) == {1: ("active", version_url(s3, 1))}
    version = f"{PREFIX}/{ALGORITHM}/1"
    keys = s3.object_keys()
    assert f"{version}/manifest.json" in keys and f"{version}/files/model.json" in keys
    manifest = json.loads(
        s3.client.get_object(Bucket=s3.bucket, Key=f"{version}/manifest.json")["Body"].read()
    )
    stored = {
        key.removeprefix(f"{version}/files/"): s3.client.head_object(Bucket=s3.bucket, Key=key)[
            "ContentLength"
        ]
        for key in keys
        if "/files/" in key
    }
    assert manifest["files"] == stored
    assert not worker.settings.models_dir.exists()  # nothing in the local models directory

    redis_client.flushdb()  # no cached list: the web process must load the model itself
    web_dir = tmp_path / "web"
    response = recommendations(web_process(s3_settings, web_dir))
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["source"], body["model_version"], body["cached"]) == (ALGORITHM, 1, False)
    assert body["items"]
    copy = web_dir / "artifact-cache" / ALGORITHM / "1"
    assert {p.name for p in copy.iterdir()} == set(manifest["files"])


def test_a_version_without_its_manifest_is_not_loaded(
    seeded: Database,
    worker: WorkerContext,
    s3: S3,
    s3_settings: dict[str, Any],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    assert retrain(worker, ALGORITHM).status == RetrainStatus.PROMOTED
    manifest = f"{PREFIX}/{ALGORITHM}/1/manifest.json"
    kept = s3.client.get_object(Bucket=s3.bucket, Key=manifest)["Body"].read()
    s3.client.delete_object(Bucket=s3.bucket, Key=manifest)  # as if its upload never finished
    redis_client.flushdb()
    web_dir = tmp_path / "web"
    client = web_process(s3_settings, web_dir)

    response = recommendations(client)
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (503, "artifact_unavailable")
    assert f"the model {version_url(s3, 1)} has no manifest" in error["message"]
    assert not (web_dir / "artifact-cache" / ALGORITHM / "1").exists()  # no half copy

    # Nothing of the failure was held: once the manifest is there, the same process serves.
    s3.client.put_object(Bucket=s3.bucket, Key=manifest, Body=kept)
    response = recommendations(client)
    assert response.status_code == 200 and response.get_json()["model_version"] == 1


def deny(s3: S3, monkeypatch: pytest.MonkeyPatch, statements: list[dict[str, str]]) -> None:
    """From now on the credentials in the environment (a user made here) may do anything in S3
    but what ``statements`` deny: real refusals by the server."""
    iam = boto3.client("iam", endpoint_url=s3.endpoint)
    iam.create_user(UserName="trainer")
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [allow, *statements]}
    iam.put_user_policy(UserName="trainer", PolicyName="denied", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="trainer")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    s3.moto("reset-auth", b"0")  # every request from now on is authenticated and authorized


def denied(action: str, resource: str) -> dict[str, str]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("refused", "left"),
    [
        # Every file uploaded, then the manifest refused: the files are deleted again.
        (["manifest"], set()),
        # A file refused, and so is every delete: what was uploaded stays, but no manifest.
        (["file", "delete"], {"data.indices.npy", "data.indptr.npy"}),
    ],
)
def test_a_refused_upload_leaves_no_manifest_and_the_previous_version_serves(
    seeded: Database,
    s3: S3,
    s3_settings: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    refused: list[str],
    left: set[str],
) -> None:
    assert retrain(build_context(Settings.load(s3_settings)), ALGORITHM).version == 1
    statements = {
        "manifest": denied("s3:PutObject", f"arn:aws:s3:::{s3.bucket}/*/manifest.json"),
        "file": denied("s3:PutObject", f"arn:aws:s3:::{s3.bucket}/*/data.movie_ids.npy"),
        "delete": denied("s3:DeleteObject", "*"),
    }
    deny(s3, monkeypatch, [statements[name] for name in refused])
    worker = build_context(Settings.load(s3_settings))  # with the new credentials

    outcome = retrain(worker, ALGORITHM, force=True)
    assert (outcome.status, outcome.version) == (RetrainStatus.FAILED, 2)
    assert outcome.detail.startswith(f"OSError: cannot save the model in {version_url(s3, 2)}: ")
    assert "AccessDenied" in outcome.detail
    assert artifacts(seeded) == {1: ("active", version_url(s3, 1)), 2: ("failed", None)}
    s3.moto("reset-auth", b"inf")
    version = f"{PREFIX}/{ALGORITHM}/2/"
    kept = {key.removeprefix(version + "files/") for key in s3.object_keys() if version in key}
    assert kept == left
    assert not (worker.settings.artifact_cache_dir / ALGORITHM / "2").exists()
    response = recommendations(web_process(s3_settings, tmp_path / "web"))
    assert response.status_code == 200 and response.get_json()["model_version"] == 1

    # The next retrain removes what is left of the refused one, and publishes.
    assert retrain(worker, ALGORITHM, force=True).version == 3
    assert {key.split("/")[3] for key in s3.object_keys()} == {"1", "3"}


def test_a_retrain_removes_what_a_killed_upload_left_behind(
    seeded: Database, worker: WorkerContext, s3: S3
) -> None:
    unfinished = f"{PREFIX}/{ALGORITHM}/7/files/model.json"  # its worker died before the manifest
    s3.client.put_object(Bucket=s3.bucket, Key=unfinished, Body=b"{")
    staging = worker.settings.artifact_cache_dir / ALGORITHM / ".8.tmp-99999"
    staging.mkdir(parents=True)
    (staging / "model.json").write_text("{")

    assert retrain(worker, ALGORITHM).status == RetrainStatus.PROMOTED
    assert {key.split("/")[3] for key in s3.object_keys()} == {"1"}
    assert sorted(p.name for p in staging.parent.iterdir()) == ["1"]


def test_replacing_the_catalogue_removes_its_versions_from_s3(
    seeded: Database, worker: WorkerContext, s3: S3, redis_client: redis.Redis
) -> None:
    assert retrain(worker, ALGORITHM).version == 1
    assert retrain(worker, ALGORITHM, force=True).version == 2
    assert {key.split("/")[3] for key in s3.object_keys()} == {"1", "2"}
    s3.client.put_object(Bucket=s3.bucket, Key="elsewhere/kept", Body=b"")

    replace_catalogue(seeded, redis_client, artifact_store(worker.settings))
    assert s3.object_keys() == []
    assert s3.object_keys("elsewhere") == ["elsewhere/kept"]
    assert list((worker.settings.artifact_cache_dir / ALGORITHM).iterdir()) == []


def test_processes_downloading_one_version_at_once_each_get_it_whole(
    seeded: Database, worker: WorkerContext, s3: S3, tmp_path: Path
) -> None:
    assert retrain(worker, ALGORITHM).version == 1
    cache = tmp_path / "shared-cache"
    stores = [S3Store(s3.bucket, PREFIX, s3.endpoint, cache) for _ in range(4)]
    found: list[Path] = []

    def load(store: S3Store) -> None:
        directory = store.fetch(version_url(s3, 1))
        worker.serving.registry.load(ALGORITHM, directory)  # every file there, complete
        found.append(directory)

    threads = [threading.Thread(target=load, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [cache / ALGORITHM / "1"] * 4
    assert sorted(p.name for p in (cache / ALGORITHM).iterdir()) == ["1"]  # no temporary left


def test_a_version_in_s3_is_not_loaded_from_a_directory_store(tmp_path: Path) -> None:
    store = artifact_store(Settings.load({"data_dir": tmp_path}))
    with pytest.raises(ArtifactUnavailable, match="MOVIEREC_ARTIFACTS_URL names a directory"):
        store.fetch("s3://bucket/models/als/1")


@pytest.mark.parametrize("url", ["s3://", "s3:///models", "gs://bucket/models"])
def test_an_artifacts_url_must_be_a_directory_or_an_s3_bucket(url: str) -> None:
    with pytest.raises(SettingsError, match="ARTIFACTS_URL"):
        Settings.load({"artifacts_url": url})


def test_an_artifacts_url_may_name_a_directory(tmp_path: Path) -> None:
    settings = Settings.load({"artifacts_url": str(tmp_path / "shared")})
    assert settings.models_dir == tmp_path / "shared"
