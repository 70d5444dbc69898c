import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import make_artifact
from tests.service.conftest import ADMIN

AUTH = {"X-API-Key": ADMIN}


def test_reload_swaps_to_the_new_artifact(
    settings_for: Callable[..., Settings], tmp_path: Path, tiny_artifact: Path
) -> None:
    served = tmp_path / "served"
    shutil.copytree(tiny_artifact, served)
    with TestClient(create_app(settings_for(model_dir=served))) as client:
        before = client.get("/v1/model").json()["version"]
        shutil.rmtree(served)
        make_artifact(served, seed=5)  # retrained in place
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 200 and response.json()["changed"] is True
        after = client.post("/v1/sentiment", json={"text": "good"}).json()["model_version"]
        assert after == response.json()["version"] != before


def test_bad_artifact_keeps_the_old_model(
    settings_for: Callable[..., Settings], tmp_path: Path, tiny_artifact: Path
) -> None:
    served = tmp_path / "served"
    shutil.copytree(tiny_artifact, served)
    with TestClient(create_app(settings_for(model_dir=served))) as client:
        before = client.get("/v1/model").json()["version"]
        weights = served / "weights.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "reload_failed" and "weights.safetensors" in error["message"]
        assert client.post("/v1/sentiment", json={"text": "good"}).json()["model_version"] == before
