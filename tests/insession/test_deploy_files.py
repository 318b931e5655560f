"""The docker-compose stack's monitoring files agree with each other and with the code.

Docker is not run here, so these read the files: compose references files that exist, the
health check is a real `insession health` command, Prometheus scrapes the port the flow
serves, and every PromQL expression in the dashboard names metrics and labels that
`FlowMetrics` defines. The operations guide documents every metric.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from insession.cli import build_parser
from insession.ops.metrics import METRICS, MetricSpec
from tests.conftest import ROOT

SERIES: dict[str, MetricSpec] = {name: spec for spec in METRICS for name in spec.series()}
METRIC_NAME = re.compile(r"\binsession_[a-z_]+\b")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((ROOT / "deploy/grafana/dashboards/insession.json").read_text())


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Host path -> container path, for the service's bind mounts (`./...:/...`)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[source] = target
    return mounts


def test_compose_mounts_files_that_exist_and_binds_ports_to_loopback(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {"prometheus", "grafana", "insession"} <= set(services)
    for name, service in services.items():
        for source in bind_mounts(service):
            assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_insession_health_check_is_a_real_command_on_the_served_port(
    compose: dict[str, Any],
) -> None:
    service = compose["services"]["insession"]
    port = int(service["environment"]["INSESSION_METRICS_PORT"])
    assert service["environment"]["INSESSION_METRICS_HOST"] == "0.0.0.0"
    assert f"127.0.0.1:{port}:{port}" in service["ports"]
    form, *command = service["healthcheck"]["test"]
    assert form == "CMD"
    assert command[:2] == ["insession", "health"]
    args = build_parser().parse_args(command[1:])  # what the container would run
    assert args.url == f"http://127.0.0.1:{port}"


def test_prometheus_scrapes_the_flow_and_grafana_reads_prometheus(
    compose: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    services = compose["services"]
    flow_port = services["insession"]["environment"]["INSESSION_METRICS_PORT"]
    mounts = bind_mounts(services["prometheus"])
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert mounts["./deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    (job,) = config["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (targets,) = [group["targets"] for group in job["static_configs"]]
    assert targets == [f"insession:{flow_port}"]

    provisioning = ROOT / "deploy/grafana/provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in services["prometheus"]["ports"]
    (provider,) = yaml.safe_load((provisioning / "dashboards/insession.yml").read_text())[
        "providers"
    ]
    grafana_mounts = bind_mounts(services["grafana"])
    assert grafana_mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert grafana_mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_every_dashboard_query_names_metrics_and_labels_the_facade_defines(
    dashboard: dict[str, Any],
) -> None:
    for title, expr in expressions(dashboard):
        names = METRIC_NAME.findall(expr)
        assert names, f"{title}: {expr} names no insession metric"
        unknown = [name for name in names if name not in SERIES]
        assert not unknown, f"{title}: {unknown} are not defined by FlowMetrics"
        assert expr.count("(") == expr.count(")"), f"{title}: unbalanced parentheses"
        for name, matchers in re.findall(r"(insession_[a-z_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in SERIES[name].labels, f"{title}: {name} has no label {label}"
        allowed = {label for name in names for label in SERIES[name].labels}
        allowed |= {"le"} if any(name.endswith("_bucket") for name in names) else set()
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            for label in (part.strip() for part in grouping.split(",")):
                assert label in allowed, f"{title}: grouping by {label}, which {names} lack"


def test_dashboard_covers_what_ops_watch(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    watched = {
        "insession_events_in_total",  # throughput
        "insession_kafka_consumer_lag",
        "insession_decision_latency_seconds_bucket",
        "insession_event_to_offer_latency_seconds_bucket",
        "insession_dead_letters_total",
        "insession_offers_total",
        "insession_offer_outcomes_total",  # acceptance policy vs control
        "insession_redis_write_errors_total",
        "insession_model_info",
    }
    assert watched <= used
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert len(titles) == len(set(titles))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_operations_guide_documents_every_metric() -> None:
    guide = (ROOT / "docs/operations.md").read_text()
    rows = {
        row[0].strip("` "): row
        for row in (line.strip("|").split("|") for line in guide.splitlines())
        if row and row[0].strip().startswith("`insession_")
    }
    for spec in METRICS:
        assert spec.name in rows, f"docs/operations.md has no row for {spec.name}"
        _, kind, labels, *_ = (cell.strip() for cell in rows[spec.name])
        assert kind == spec.kind, spec.name
        documented = {label.strip("` ") for label in labels.split(",")} - {"", "—"}
        assert documented == set(spec.labels), spec.name


def test_docker_guide_names_the_monitoring_services() -> None:
    guide = (ROOT / "docs/docker.md").read_text()
    for text in ("`prometheus`", "`grafana`", "127.0.0.1:9090", "127.0.0.1:3000", "insession ops"):
        assert text in guide
    assert Path(ROOT / "docs/operations.md").is_file()
