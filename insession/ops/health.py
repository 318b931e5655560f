"""`insession health`: ask a running flow's `/healthz` (and `/readyz`), or the local services.

Exit status 0 when everything asked answers healthy, 1 otherwise, with one line per check
saying what failed and why, so it serves both people and container health checks.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from insession.settings import Settings
from insession.urls import redacted_url

WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")

# Health checks go straight to the server asked about, never through a configured proxy.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Probe:
    """The answer to one check: which, whether it passed, and the details that explain it."""

    name: str
    ok: bool
    detail: str

    def describe(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def metrics_url(settings: Settings) -> str:
    """Where this machine reaches the metrics server the settings describe."""
    host = settings.metrics_host
    if host in WILDCARD_HOSTS:  # listening on every address: ask the loopback one
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.metrics_port}"


def _get_json(url: str, timeout: float) -> tuple[int, dict[str, Any]]:
    """GET `url`: its status and JSON body (4xx/5xx answers included). Raises OSError or
    ValueError when there is no usable answer."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError(f"HTTP {status} with a body that is not JSON: {body[:80]!r}") from None
    if not isinstance(document, dict):
        raise ValueError(f"HTTP {status} with JSON that is not an object: {body[:80]!r}")
    return status, document


def _ask(name: str, url: str, timeout: float) -> tuple[int, dict[str, Any]] | Probe:
    try:
        return _get_json(url, timeout)
    except urllib.error.URLError as error:
        return Probe(name, False, f"no answer at {redacted_url(url)} ({error.reason})")
    except (OSError, ValueError) as error:
        return Probe(name, False, f"{redacted_url(url)}: {error}")


def probe_liveness(base_url: str, timeout: float = 3.0) -> Probe:
    """`/healthz`: is the flow's heartbeat fresh?"""
    answer = _ask("healthz", f"{base_url}/healthz", timeout)
    if isinstance(answer, Probe):
        return answer
    status, body = answer
    age, limit = body.get("heartbeat_age_s"), body.get("stale_after_s")
    detail = f"heartbeat {age} s old (stale after {limit} s)"
    return Probe("healthz", status == 200, detail if status == 200 else f"HTTP {status}, {detail}")


def probe_readiness(base_url: str, timeout: float = 3.0) -> Probe:
    """`/readyz`: does every readiness check of the flow pass?"""
    answer = _ask("readyz", f"{base_url}/readyz", timeout)
    if isinstance(answer, Probe):
        return answer
    status, body = answer
    checks = body.get("checks") or {}
    failing = {name: state for name, state in checks.items() if state != "ok"}
    if status == 200 and not failing:
        return Probe("readyz", True, ", ".join(f"{name} ok" for name in checks) or "ready")
    named = "; ".join(f"{name} {state}" for name, state in failing.items())
    return Probe("readyz", False, f"HTTP {status}, not ready: {named or 'no reason given'}")


def probe_services(settings: Settings) -> list[Probe]:
    """Kafka and Redis themselves, as the settings address them (no flow needed)."""
    from insession.connectors.kafka_admin import broker_ready, describe
    from insession.dev.services import redis_ready

    kafka = broker_ready(settings.kafka_client())
    redis = redis_ready(settings)
    return [
        Probe(
            "kafka",
            kafka,
            f"{'answers' if kafka else 'no answer'} at {describe(settings.kafka_client())}",
        ),
        Probe(
            "redis",
            redis,
            f"{'answers' if redis else 'no answer'} at {redacted_url(settings.redis_url)}",
        ),
    ]
