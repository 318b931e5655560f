"""Start, stop and inspect a real Kafka broker (KRaft, from Maven jars) and Redis server locally.

No Docker: the Kafka jars come from Maven Central through `mvn` into a cache folder outside
git, Redis is Debian's `redis-server` (installed if missing), and a Redis Cluster of three
masters is three more `redis-server`s on ports 7001-7003. All bind to 127.0.0.1. A service
that already answers on its port is used as it is and never stopped by `down`, which stops
only the processes whose pid files this module wrote.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from insession.connectors.kafka_admin import (
    broker_ready,
    port_open,
    split_address,
    wait_for_broker,
)
from insession.connectors.redis_client import REDIS_ERRORS, connect
from insession.dev import secured
from insession.settings import Settings

LOG4J2_CONFIG = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
"""


class ServiceError(RuntimeError):
    """A service could not be fetched, started or stopped; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What `status` reports for one service."""

    name: str
    address: str
    answering: bool
    pid: int | None
    started_here: bool

    def describe(self) -> str:
        if not self.answering:
            return f"{self.name:<15} down      {self.address}"
        owner = f"pid {self.pid}, started by insession" if self.started_here else "not ours"
        return f"{self.name:<15} up        {self.address}  ({owner})"


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.services_dir / f"{name}.pid"


def _read_pid(settings: Settings, name: str, command_word: str) -> int | None:
    """The pid we recorded for `name`, if that process is still alive and is what we started."""
    path = _pid_file(settings, name)
    if not path.is_file():
        return None
    pid = int(path.read_text().strip() or 0)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if command_word.encode() in cmdline else None


def _spawn(settings: Settings, name: str, argv: list[str]) -> int:
    """Start a detached process with its output in `<services_dir>/<name>.log`."""
    log_path = settings.services_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=settings.services_dir,
        )
    _pid_file(settings, name).write_text(f"{process.pid}\n")
    return process.pid


# --- Kafka ----------------------------------------------------------------------------------


def kafka_libs(settings: Settings) -> Path:
    """The folder holding the Kafka jars, fetched through Maven on first use."""
    libs = settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs"
    if (libs / f"kafka_2.13-{settings.kafka_version}.jar").is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("Maven ('mvn') is not on PATH: install it (apt-get install maven)")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    with resources.as_file(resources.files("insession.dev") / "kafka-pom.xml") as pom:
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-Dkafka.version={settings.kafka_version}",
                f"-DoutputDirectory={staging}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise ServiceError(
            f"Maven could not fetch Kafka {settings.kafka_version}:\n{result.stdout[-3000:]}"
            f"{result.stderr[-3000:]}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def _kafka_properties(settings: Settings, data_dir: Path, secured_listeners: bool) -> str:
    host, port = split_address(settings.bootstrap_servers.split(",")[0])
    controller = f"{host}:{settings.kafka_controller_port}"
    plaintext = [
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ]
    listeners = (
        secured.kafka_listener_properties(settings, f"{host}:{port}", controller)
        if secured_listeners
        else plaintext
    )
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={controller}",
            *listeners,
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={settings.partitions}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "delete.topic.enable=true",
            "",
        ]
    )


def kafka_cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes, URL-safe base64, never starting with "-" (Kafka's
    own tool would read such an id as an option; one in 64 random ids does)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start_kafka(
    settings: Settings, timeout: float = 90.0, *, secured_listeners: bool = True
) -> float:
    """Start a single-node KRaft broker unless one answers already; return seconds to ready.
    It listens in plaintext at `bootstrap_servers` and, with `secured_listeners`, on the
    secured ports (`secured`; fixed ports: one broker per machine has them)."""
    started = time.monotonic()
    if broker_ready(secured.plaintext_client(settings)):
        return 0.0
    host, port = split_address(settings.bootstrap_servers.split(",")[0])
    if port_open(host, port):
        raise ServiceError(f"port {port} is taken by something that is not a Kafka broker")
    java = shutil.which("java")
    if java is None:
        raise ServiceError(
            "Java is not on PATH: install a JDK 17 (apt-get install openjdk-17-jre-headless)"
        )
    classpath = f"{kafka_libs(settings)}/*"
    home = settings.services_dir / "kafka"
    data_dir = (home / "data").resolve()
    home.mkdir(parents=True, exist_ok=True)
    properties = home / "server.properties"
    properties.write_text(_kafka_properties(settings, data_dir, secured_listeners))
    log4j = home / "log4j2.yaml"
    log4j.write_text(LOG4J2_CONFIG)
    if not (data_dir / "meta.properties").is_file():
        cluster_id = kafka_cluster_id()
        subprocess.run(
            [
                java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(properties),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    _spawn(
        settings,
        "kafka",
        [
            java,
            f"-Xmx{settings.kafka_heap}",
            f"-Xms{settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j.resolve()}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties.resolve()),
        ],
    )
    try:
        wait_for_broker(secured.plaintext_client(settings), timeout)
        if secured_listeners:
            secured.add_scram_user(settings)
            wait_for_broker(secured.local_clients(settings).kafka["sasl"], timeout)
    except TimeoutError as late:
        log_tail = (settings.services_dir / "kafka.log").read_text()[-3000:]
        raise ServiceError(f"{late}; last lines of the broker log:\n{log_tail}") from None
    return time.monotonic() - started


# --- Redis ----------------------------------------------------------------------------------


def _redis_address(settings: Settings) -> tuple[str, int]:
    url = urlparse(settings.redis_url)
    return url.hostname or "127.0.0.1", url.port or 6379


def redis_ready(settings: Settings) -> bool:
    """True when Redis (a server or a cluster) answers PING at the configured URL."""
    return redis_answers(settings.redis_url)


def redis_answers(url: str) -> bool:
    """True when the Redis at `url` answers PING (with the URL's credentials)."""
    client = connect(url, fail_fast=True, socket_timeout=1)
    try:
        return bool(client.ping())
    except REDIS_ERRORS:
        return False
    finally:
        client.close()


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"],
            check=False,
            env=env,
            capture_output=True,
        )
        found = shutil.which("redis-server")
        if found:
            return found
    raise ServiceError("redis-server is not on PATH: install it (apt-get install redis-server)")


def _redis_argv(binary: str, host: str, port: int, home: Path, *extra: str) -> list[str]:
    """A redis-server on loopback that keeps nothing on disk, in the foreground."""
    return [
        binary,
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(home),
        *extra,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]


def start_redis(settings: Settings, timeout: float = 30.0) -> float:
    """Start redis-server on loopback unless Redis answers already; return seconds to ready."""
    started = time.monotonic()
    if redis_ready(settings):
        return 0.0
    host, port = _redis_address(settings)
    if port_open(host, port):
        raise ServiceError(f"port {port} is taken by something that does not answer Redis PING")
    home = (settings.services_dir / "redis").resolve()
    home.mkdir(parents=True, exist_ok=True)
    _spawn(
        settings,
        "redis",
        _redis_argv(_redis_server_binary(), host, port, home),
    )
    while not redis_ready(settings):
        if time.monotonic() - started > timeout:
            log_tail = (settings.services_dir / "redis.log").read_text()[-2000:]
            raise ServiceError(f"Redis did not answer within {timeout:.0f} s:\n{log_tail}")
        time.sleep(0.05)
    return time.monotonic() - started


def start_secured_redis(settings: Settings, timeout: float = 30.0) -> float:
    """Start the redis-server that asks for a password or an ACL user, in plaintext and over
    TLS (`secured`), unless it answers already; seconds to ready."""
    started = time.monotonic()
    url = secured.local_clients(settings).redis["password"]
    if redis_answers(url):
        return 0.0
    for port in (secured.REDIS_SECURE_PORT, secured.REDIS_TLS_PORT):
        if port_open(secured.HOST, port):
            raise ServiceError(f"port {port} is taken by something that does not answer Redis")
    home = (settings.services_dir / "redis-secured").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "redis.conf"
    config.touch(mode=0o600)
    config.write_text(secured.redis_secure_config(settings))
    argv = _redis_argv(_redis_server_binary(), secured.HOST, secured.REDIS_SECURE_PORT, home)
    argv.insert(1, str(config))  # the file first, then the options that override it
    _spawn(settings, "redis-secured", argv)
    _wait(lambda: redis_answers(url), started, timeout, "the secured Redis", "redis-secured.log")
    return time.monotonic() - started


# --- Redis Cluster --------------------------------------------------------------------------

CLUSTER_HOST = "127.0.0.1"
CLUSTER_PORTS = (7001, 7002, 7003)
CLUSTER_URL = f"redis+cluster://{CLUSTER_HOST}:{CLUSTER_PORTS[0]}"
"""The local Redis Cluster: three masters, no replicas, for the tests of cluster mode."""
SLOTS = 16384


def _node(port: int) -> redis.Redis:
    # No retries: redis-py retries a refused connection with backoff, for seconds per node.
    return redis.Redis(
        host=CLUSTER_HOST,
        port=port,
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )


def _node_answers(port: int) -> bool:
    try:
        return bool(_node(port).ping())
    except redis.RedisError:
        return False


def _cluster_info(port: int) -> dict[str, str]:
    return _node(port).execute_command("CLUSTER INFO")  # type: ignore[no-any-return]


def cluster_ready(ports: tuple[int, ...] = CLUSTER_PORTS) -> bool:
    """True when every local cluster node says the cluster is up (all slots served)."""
    try:
        return all(_cluster_info(port)["cluster_state"] == "ok" for port in ports)
    except redis.RedisError:
        return False


def start_redis_cluster(
    settings: Settings, timeout: float = 30.0, ports: tuple[int, ...] = CLUSTER_PORTS
) -> float:
    """Start a redis-server master on each of `ports` and join them into a cluster (each
    serves an equal share of the slots), unless that cluster answers already; seconds to
    ready. Each node is a service of its own to `stop`: `redis-cluster-<port>`."""
    started = time.monotonic()
    if cluster_ready(ports):
        return 0.0
    binary = _redis_server_binary()
    for port in ports:
        if _node_answers(port):
            continue
        if port_open(CLUSTER_HOST, port):
            raise ServiceError(f"port {port} is taken by something that does not answer Redis")
        home = (settings.services_dir / "redis-cluster" / str(port)).resolve()
        home.mkdir(parents=True, exist_ok=True)
        (home / "nodes.conf").unlink(missing_ok=True)  # no data is kept: start a new cluster
        _spawn(
            settings,
            f"redis-cluster-{port}",
            _redis_argv(
                binary,
                CLUSTER_HOST,
                port,
                home,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ),
        )
    _wait(lambda: all(_node_answers(p) for p in ports), started, timeout, "cluster nodes")
    share = SLOTS // len(ports)
    for i, port in enumerate(ports):
        if _cluster_info(port)["cluster_slots_assigned"] == "0":
            last = SLOTS - 1 if i == len(ports) - 1 else (i + 1) * share - 1
            _node(port).execute_command("CLUSTER ADDSLOTSRANGE", i * share, last)
            # Each master its own config epoch, as `redis-cli --cluster create` gives them.
            _node(port).execute_command("CLUSTER SET-CONFIG-EPOCH", i + 1)
    for port in ports[1:]:
        _node(port).execute_command("CLUSTER MEET", CLUSTER_HOST, ports[0])
    _wait(lambda: cluster_ready(ports), started, timeout, "the cluster")
    return time.monotonic() - started


def _wait(
    ready: Callable[[], bool],
    started: float,
    timeout: float,
    what: str,
    logs: str = "redis-cluster-*.log",
) -> None:
    while not ready():
        if time.monotonic() - started > timeout:
            raise ServiceError(
                f"{what} not ready within {timeout:.0f} s; see <services dir>/{logs}"
            )
        time.sleep(0.05)


# --- all services ---------------------------------------------------------------------------

_COMMAND_WORDS = {
    "kafka": "kafka.Kafka",
    "redis": "redis-server",
    "redis-secured": "redis-server",
    **{f"redis-cluster-{port}": "redis-server" for port in CLUSTER_PORTS},
}


def up(settings: Settings) -> dict[str, float]:
    """Start Redis, the Redis Cluster and Kafka (idempotent); each one's seconds to ready."""
    settings.services_dir.mkdir(parents=True, exist_ok=True)
    return {
        "redis": start_redis(settings),
        "redis-secured": start_secured_redis(settings),
        "redis-cluster": start_redis_cluster(settings),
        "kafka": start_kafka(settings),
    }


def down(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Stop the services this module started (SIGTERM, then SIGKILL); return their names."""
    return [name for name in _COMMAND_WORDS if stop(settings, name, timeout)]


def stop(settings: Settings, name: str, timeout: float = 30.0) -> bool:
    """Stop one service this module started (`kafka`, `redis`, `redis-cluster-<port>`); False
    if it was not ours or not running. Fault tests use it to restart a broker mid-stream."""
    word = _COMMAND_WORDS.get(name) or ("redis-server" if name.startswith("redis-cluster-") else "")
    if not word:
        raise KeyError(f"no service {name!r}")
    pid = _read_pid(settings, name, word)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _read_pid(settings, name, word) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if _read_pid(settings, name, word) is not None:
            os.kill(pid, signal.SIGKILL)
    _pid_file(settings, name).unlink(missing_ok=True)
    return pid is not None


def service_pid(settings: Settings, name: str) -> int | None:
    """The pid of a service this module started, if it runs."""
    return _read_pid(settings, name, _COMMAND_WORDS[name])


def status(settings: Settings) -> list[ServiceState]:
    """Whether each service answers, and whether insession started it."""
    host, port = _redis_address(settings)
    kafka_pid = _read_pid(settings, "kafka", _COMMAND_WORDS["kafka"])
    redis_pid = _read_pid(settings, "redis", _COMMAND_WORDS["redis"])
    cluster_pid = _read_pid(settings, f"redis-cluster-{CLUSTER_PORTS[0]}", "redis-server")
    secured_pid = _read_pid(settings, "redis-secured", "redis-server")
    doors = secured.local_clients(settings)
    secured_kafka = [
        ServiceState(
            f"kafka-{name.replace('_', '-')}",
            client["bootstrap.servers"],
            broker_ready(client),
            kafka_pid,
            kafka_pid is not None,
        )
        for name, client in doors.kafka.items()
    ]
    return [
        ServiceState(
            "kafka",
            settings.bootstrap_servers,
            broker_ready(secured.plaintext_client(settings)),
            kafka_pid,
            kafka_pid is not None,
        ),
        *secured_kafka,
        ServiceState(
            "redis", f"{host}:{port}", redis_ready(settings), redis_pid, redis_pid is not None
        ),
        ServiceState(
            "redis-secured",
            f"{secured.HOST}:{secured.REDIS_SECURE_PORT},tls:{secured.REDIS_TLS_PORT}",
            redis_answers(doors.redis["password"]),
            secured_pid,
            secured_pid is not None,
        ),
        ServiceState(
            "redis-cluster",
            ",".join(f"{CLUSTER_HOST}:{p}" for p in CLUSTER_PORTS),
            cluster_ready(),
            cluster_pid,
            cluster_pid is not None,
        ),
    ]
