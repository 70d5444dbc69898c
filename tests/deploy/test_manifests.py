"""The Kubernetes manifests in deploy/ are valid and say the same as the compose scale stack.

No cluster runs here: each resource is checked against the Kubernetes JSON schemas that
kubernetes-validate ships (offline, strict: an unknown or misspelt field fails), for the oldest
and the newest Kubernetes versions we claim.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bench.fleet import URL_LIMIT
from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
SECRET_KEYS = {"SENTIMENT_DATABASE_URL", "SENTIMENT_API_KEYS", "SENTIMENT_ADMIN_KEYS"}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization_files(folder: Path) -> list[Path]:
    """The manifest files a kustomization lists (folders it includes are checked on their own)."""
    (kustomization,) = load_all(folder / "kustomization.yaml")
    return [folder / name for name in kustomization["resources"] if (folder / name).is_file()]


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for folder in (DEPLOY, DEPLOY / "train"):
        for path in kustomization_files(folder):
            for doc in load_all(path):
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


RESOURCES = resources()


def resource(kind: str, name: str) -> dict[str, Any]:
    return RESOURCES[(kind, name)]


def compose_default(value: object) -> str:
    """`${VAR:-default}` -> default; anything else as the string compose passes."""
    text = str(value)
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", text)
    return match.group(1) if match else text


def compose_service(file: str, name: str) -> dict[str, Any]:
    (compose,) = load_all(ROOT / file)
    return compose["services"][name]  # type: ignore[no-any-return]


def api_container() -> dict[str, Any]:
    (container,) = resource("Deployment", "sentiment-api")["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("key", sorted(RESOURCES), ids=lambda k: f"{k[0]}/{k[1]}")
def test_every_resource_validates_strictly(key: tuple[str, str], version: str) -> None:
    try:
        kubernetes_validate.validate(RESOURCES[key], version, strict=True)
    except jsonschema.ValidationError as exc:  # kubernetes_validate.ValidationError is one
        pytest.fail(f"{key}: {'.'.join(map(str, exc.path))}: {exc.message}")


def test_every_manifest_file_is_applied() -> None:
    for folder in (DEPLOY, DEPLOY / "train"):
        (kustomization,) = load_all(folder / "kustomization.yaml")
        listed = set(kustomization["resources"]) | {p["path"] for p in kustomization.get("patches", [])}
        on_disk = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert on_disk == listed - {"../"}, folder


def test_the_api_deployment_is_production_shaped() -> None:
    deployment = resource("Deployment", "sentiment-api")
    pod = deployment["spec"]["template"]["spec"]
    container = api_container()
    assert deployment["spec"]["replicas"] >= 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # The grace period covers the preStop pause and the drain (queued requests time out at
    # SENTIMENT_REQUEST_TIMEOUT_S), with time left to write the log rows held in memory.
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    timeout = float(resource("ConfigMap", "sentiment-config")["data"]["SENTIMENT_REQUEST_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] >= pause + timeout + 5
    assert {e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e} == {"sentiment-config"}
    assert {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e} == {"sentiment-secrets"}


def test_service_hpa_and_pdb_point_at_the_api_pods() -> None:
    deployment = resource("Deployment", "sentiment-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = resource("Service", "sentiment-api")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"] for p in api_container()["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    pdb = resource("PodDisruptionBudget", "sentiment-api")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = resource("HorizontalPodAutoscaler", "sentiment-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sentiment-api"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_settings_are_real_and_secrets_stay_in_the_secret() -> None:
    known = {f"SENTIMENT_{name.upper()}" for name in Settings.model_fields}
    config = resource("ConfigMap", "sentiment-config")["data"]
    secret = resource("Secret", "sentiment-secrets")["stringData"]
    assert set(config) <= known and set(secret) <= known
    assert set(secret) == SECRET_KEYS and not set(config) & SECRET_KEYS
    for key, value in config.items():  # each value passes the service's own validation
        Settings.model_validate({key.removeprefix("SENTIMENT_").lower(): value})


def test_manifests_and_the_compose_scale_stack_agree() -> None:
    api = compose_service("docker-compose.scale.yml", "api")
    compose_env = {k: compose_default(v) for k, v in api["environment"].items()}
    config = resource("ConfigMap", "sentiment-config")["data"]
    # Every setting both define has the same value; each side defines the same keys.
    assert set(config) == set(compose_env) - {"SENTIMENT_DATABASE_URL"}
    assert {k: str(v) for k, v in config.items()} == {k: compose_env[k] for k in config}
    # The secrets compose takes from .env are the ones the Secret holds.
    example = (ROOT / "scale.env.example").read_text()
    env_keys = set(re.findall(r"^(SENTIMENT_\w+)=", example, re.MULTILINE)) | {"SENTIMENT_DATABASE_URL"}
    assert env_keys == SECRET_KEYS
    # Same images, port and health paths.
    assert api_container()["image"] == api["image"]
    train = resource("Job", "sentiment-train")["spec"]["template"]["spec"]["containers"][0]
    assert train["image"] == compose_service("docker-compose.yml", "train")["image"]
    port = int(config["SENTIMENT_PORT"])
    assert [p["containerPort"] for p in api_container()["ports"]] == [port]
    assert f"EXPOSE {port}" in (ROOT / "Dockerfile").read_text()
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    haproxy = (ROOT / "docker" / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /readyz" in haproxy and f"api:{port} check" in haproxy
    # The hostile-client rules that tests/e2e/test_proxy_limits.py exercises on bench/fleet.py's config.
    assert URL_LIMIT in haproxy
    assert "timeout http-request 10s" in haproxy and "option http-buffer-request" in haproxy
    # The migration runs the same command in both.
    migrate = resource("Job", "sentiment-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert migrate["command"] == compose_service("docker-compose.scale.yml", "migrate")["command"]
    assert migrate["image"] == api["image"]
