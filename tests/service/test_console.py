"""The console's pages and the self-hosted /docs: what they serve and with which headers (no browser)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.console.assets import STATIC
from tests.service.conftest import ADMIN, USER

PAGES = ("/console", "/console/monitor", "/console/review")


def _local_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_pages_load_only_files_of_the_service(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        urls = _local_urls(response.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        assert "<script>" not in response.text and "style=" not in response.text  # nothing inline for CSP
        for url in urls:
            if url.startswith("/console/static/"):
                asset = client.get(url)
                assert asset.status_code == 200, url
                assert asset.headers["x-content-type-options"] == "nosniff"
    login = client.get("/console").text
    assert 'name="key" type="password"' in login and 'method="post"' in login  # a key never lands in a URL


def test_pages_tell_the_scripts_which_keys_are_configured(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(api_keys=[USER]))) as client:
        assert 'data-api-keys="1" data-admin-keys="1"' in client.get("/console").text
        assert USER not in client.get("/console").text and ADMIN not in client.get("/console/monitor").text
    with TestClient(create_app(settings_for(admin_keys=[]))) as client:
        assert 'data-api-keys="0" data-admin-keys="0"' in client.get("/console/review").text


def test_assets_outside_the_static_folder_are_not_served(client: TestClient) -> None:
    for name in ("../pages.py", "..%2Fpages.py", "vendor/../../assets.py", "missing.js", "vendor/README.md"):
        response = client.get(f"/console/static/{name}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", name
    assert client.get("/docs/static/console.js").status_code == 404  # the docs serve Swagger UI only


def test_asset_names_the_filesystem_refuses_are_a_json_404(settings_for: Callable[..., Settings]) -> None:
    # An embedded NUL (ValueError) and a name over NAME_MAX (ENAMETOOLONG) once answered 500.
    with TestClient(create_app(settings_for()), raise_server_exceptions=False) as client:
        for name in ("a%00.js", "a" * 300 + ".js", "vendor/" + "b" * 300 + "/x.js", "%00"):
            response = client.get(f"/console/static/{name}")
            assert response.status_code == 404, name
            assert response.json()["error"]["code"] == "not_found", name


def test_vendored_libraries_carry_their_licence_and_version() -> None:
    chart = (STATIC / "vendor/chartjs/chart.umd.min.js").read_text()[:200]
    assert "Chart.js v4.6.1" in chart and "MIT" in (STATIC / "vendor/chartjs/LICENSE.md").read_text()
    assert "Apache License" in (STATIC / "vendor/swagger-ui/LICENSE").read_text()
    notes = (STATIC / "vendor/README.md").read_text()
    assert "4.6.1" in notes and "5.35.0" in notes


def test_docs_are_served_from_the_package(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    urls = _local_urls(response.text)
    assert urls and all(u.startswith("/docs/static/vendor/swagger-ui/") or u == "/openapi.json" for u in urls), urls
    assert "cdn" not in response.text.lower() and "https://" not in response.text
    for url in urls:
        assert client.get(url).status_code == 200, url
    csp = response.headers["content-security-policy"]
    assert "'sha256-" in csp and "unsafe-eval" not in csp and "https:" not in csp
    assert client.get("/redoc").status_code == 404  # not shipped: it would need a CDN
    assert client.get("/openapi.json").status_code == 200


def test_console_can_be_turned_off(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(console=False))) as client:
        for path in (*PAGES, "/console/static/console.js"):
            assert client.get(path).status_code == 404
        assert client.get("/docs").status_code == 200
        assert client.post("/v1/sentiment", json={"text": "good"}).status_code == 200
