from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.conftest import ADMIN, USER, admin_rows


@pytest.mark.parametrize(
    ("path", "method", "headers", "status"),
    [
        ("/v1/sentiment", "post", {}, 401),
        ("/v1/sentiment", "post", {"X-API-Key": "wrong-key-123"}, 403),
        ("/v1/sentiment", "post", {"X-API-Key": USER}, 200),
        ("/v1/sentiment", "post", {"Authorization": f"Bearer {USER}"}, 200),
        ("/v1/sentiment", "post", {"Authorization": f"Bearer {ADMIN}"}, 200),
        ("/v1/sentiment", "post", {"Authorization": f"Basic {USER}"}, 401),
        ("/v1/model", "get", {}, 401),
        ("/v1/requests", "get", {}, 401),
        ("/v1/requests", "get", {"X-API-Key": USER}, 403),
        ("/v1/requests", "get", {"X-API-Key": ADMIN}, 200),
        ("/v1/admin/reload", "post", {"X-API-Key": USER}, 403),
        ("/v1/admin/reload", "post", {"Authorization": f"Bearer {ADMIN}"}, 200),
        ("/healthz", "get", {}, 200),
        ("/readyz", "get", {}, 200),
        ("/metrics", "get", {}, 200),
    ],
)
def test_auth_matrix(
    settings_for: Callable[..., Settings], path: str, method: str, headers: dict[str, str], status: int
) -> None:
    with TestClient(create_app(settings_for(api_keys=[USER]))) as client:
        kwargs = {"json": {"text": "good"}} if method == "post" and path == "/v1/sentiment" else {}
        response = getattr(client, method)(path, headers=headers, **kwargs)
        assert response.status_code == status, response.text
        if status >= 400:
            assert response.json()["error"]["code"] in ("unauthorized", "forbidden")


def test_admin_routes_are_off_without_admin_keys(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(admin_keys=[]))) as client:
        response = client.get("/v1/requests", headers={"X-API-Key": ADMIN})
        assert response.status_code == 403 and "SENTIMENT_ADMIN_KEYS" in response.json()["error"]["message"]


def test_keys_never_reach_the_log_or_metrics(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(api_keys=[USER]))) as client:
        client.post("/v1/sentiment", json={"text": "good"}, headers={"X-API-Key": USER})
        client.post("/v1/sentiment", json={"text": "good"}, headers={"X-API-Key": "wrong-key-123"})
        rows = admin_rows(client)
        assert rows[0]["client_key_id"] and USER not in str(rows)
        assert USER not in client.get("/metrics").text and ADMIN not in client.get("/metrics").text


def test_short_keys_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        Settings(_env_file=None, api_keys="short")  # type: ignore[call-arg]
