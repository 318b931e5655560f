"""The local services' secured doors: Kafka over SASL/SCRAM and TLS, Redis with passwords and TLS.

Beside its plaintext listener, the local broker listens with SASL/SCRAM (`KAFKA_SASL_PORT`),
TLS (`KAFKA_TLS_PORT`) and both (`KAFKA_SASL_TLS_PORT`); a second redis-server asks for a
password or an ACL user, in plaintext (`REDIS_SECURE_PORT`) and over TLS
(`REDIS_TLS_PORT`). The certificate authority and the server certificate are made with
`openssl` when the services first start, and the passwords are random; both are kept in the
user's cache folder (`secured_dir`, mode 0600), so every checkout on the machine reaches the
same services, and nothing secret is in the repository. `local_clients` gives the client
settings for each door, which the tests run the flow over.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from insession.settings import Settings

KAFKA_SASL_PORT = 9094
KAFKA_TLS_PORT = 9095
KAFKA_SASL_TLS_PORT = 9096
REDIS_SECURE_PORT = 6380
REDIS_TLS_PORT = 6381
HOST = "127.0.0.1"

SCRAM_USER = "insession"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
REDIS_ACL_USER = "shop"
CERT_DAYS = 365


class SecuredError(RuntimeError):
    """The TLS material could not be made; the message says what to install."""


@dataclass(frozen=True, slots=True)
class LocalSecrets:
    """The local services' random passwords."""

    scram_password: str
    redis_password: str
    """The `default` user's (`requirepass`)."""
    redis_acl_password: str
    """`REDIS_ACL_USER`'s, an ACL user of its own."""


def secured_dir(settings: Settings) -> Path:
    """Where the local services' CA, certificate and passwords are kept."""
    return (settings.cache_dir / "local-services").resolve()


def tls_dir(settings: Settings) -> Path:
    return secured_dir(settings) / "tls"


def local_secrets(settings: Settings) -> LocalSecrets:
    """The local services' passwords, made on first use."""
    path = secured_dir(settings) / "secrets.json"
    if not path.is_file():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        made = {name: secrets.token_urlsafe(18) for name in LocalSecrets.__slots__}
        partial = path.with_name(f"secrets.{os.getpid()}.partial")
        partial.touch(mode=0o600)
        partial.write_text(json.dumps(made))
        try:
            os.link(partial, path)  # whole or not at all; a second process keeps the first's
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return LocalSecrets(**json.loads(path.read_text()))


def ensure_tls_material(settings: Settings) -> Path:
    """A CA and a server certificate for localhost and 127.0.0.1 signed by it, made with
    `openssl` unless the folder has them; returns the folder (`ca.pem`, `server.key`,
    `server.crt`, and `server.pem`: key and certificate together, as Kafka reads them)."""
    folder = tls_dir(settings)
    if (folder / "server.pem").is_file():
        return folder
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SecuredError("openssl is not on PATH: install it (apt-get install openssl)")
    partial = folder.with_name("tls.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)

    def run(command: str) -> None:
        argv = [openssl, *shlex.split(command)]
        done = subprocess.run(argv, cwd=partial, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SecuredError(f"openssl {argv[1]} failed: {done.stderr.strip()[-1000:]}")

    days = f"-days {CERT_DAYS}"
    run(
        f"req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem {days} "
        "-subj /CN=insession-local-CA -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign"
    )
    run("req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost")
    (partial / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    run(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt "
        f"{days} -extfile server.ext"
    )
    (partial / "server.pem").write_text(
        (partial / "server.key").read_text() + (partial / "server.crt").read_text()
    )
    for key in ("ca.key", "server.key", "server.pem"):
        (partial / key).chmod(0o600)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def kafka_listener_properties(settings: Settings, plaintext: str, controller: str) -> list[str]:
    """server.properties lines for the plaintext, controller and secured listeners."""
    tls = ensure_tls_material(settings)
    listeners = {
        "PLAINTEXT": plaintext,
        "CONTROLLER": controller,
        "SASL_PLAINTEXT": f"{HOST}:{KAFKA_SASL_PORT}",
        "SSL": f"{HOST}:{KAFKA_TLS_PORT}",
        "SASL_SSL": f"{HOST}:{KAFKA_SASL_TLS_PORT}",
    }
    advertised = {name: at for name, at in listeners.items() if name != "CONTROLLER"}
    scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return [
        "listeners=" + ",".join(f"{name}://{at}" for name, at in listeners.items()),
        "advertised.listeners=" + ",".join(f"{name}://{at}" for name, at in advertised.items()),
        "listener.security.protocol.map="
        + ",".join(f"{name}:{'PLAINTEXT' if name == 'CONTROLLER' else name}" for name in listeners),
        "sasl.enabled.mechanisms=" + ",".join(SCRAM_MECHANISMS),
        *(
            f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config={scram_login}"
            for listener in ("sasl_plaintext", "sasl_ssl")
            for mechanism in SCRAM_MECHANISMS
        ),
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={tls / 'server.pem'}",
    ]


def plaintext_client(settings: Settings) -> dict[str, str]:
    """The local broker's plaintext listener (the `kafka` table is for the flow's brokers)."""
    return {"bootstrap.servers": settings.bootstrap_servers}


def add_scram_user(settings: Settings, timeout: float = 30.0) -> None:
    """Give `SCRAM_USER` its password for each SCRAM mechanism (over the plaintext listener;
    KRaft keeps credentials in the cluster's metadata, so this is an upsert at every start)."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    from insession.connectors.kafka_admin import admin_client

    password = local_secrets(settings).scram_password.encode()
    client = admin_client(plaintext_client(settings))
    for name in SCRAM_MECHANISMS:  # one credential of a user per request
        mechanism = ScramCredentialInfo(getattr(ScramMechanism, name.replace("-", "_")), 8192)
        upsert = UserScramCredentialUpsertion(SCRAM_USER, mechanism, password)
        for done in client.alter_user_scram_credentials([upsert], request_timeout=timeout).values():
            done.result()


def redis_secure_config(settings: Settings) -> str:
    """redis.conf lines for the secured Redis: the default user's password, an ACL user of
    its own, and TLS beside plaintext (no client certificates asked). A file, not options:
    a process's arguments are visible to every local user."""
    tls = ensure_tls_material(settings)
    kept = local_secrets(settings)
    return "\n".join(
        [
            f"requirepass {kept.redis_password}",
            f"user {REDIS_ACL_USER} on >{kept.redis_acl_password} ~* &* +@all",
            f"tls-port {REDIS_TLS_PORT}",
            f"tls-cert-file {tls / 'server.crt'}",
            f"tls-key-file {tls / 'server.key'}",
            f"tls-ca-cert-file {tls / 'ca.pem'}",
            "tls-auth-clients no",
            "",
        ]
    )


@dataclass(frozen=True, slots=True)
class LocalClients:
    """How a client reaches each secured door of the local services."""

    kafka: dict[str, dict[str, str]]
    """Listener name (`sasl`, `tls`, `sasl_tls`) -> the brokers and `kafka` table to use."""
    redis: dict[str, str]
    """Door (`password`, `acl`, `tls`) -> the Redis URL."""


def local_clients(settings: Settings) -> LocalClients:
    """The settings that reach the local secured listeners."""
    kept = local_secrets(settings)
    ca = str(tls_dir(settings) / "ca.pem")
    sasl = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": SCRAM_USER,
        "sasl.password": kept.scram_password,
    }
    kafka = {
        "sasl": {"bootstrap.servers": f"{HOST}:{KAFKA_SASL_PORT}", **sasl},
        "tls": {
            "bootstrap.servers": f"{HOST}:{KAFKA_TLS_PORT}",
            "security.protocol": "SSL",
            "ssl.ca.location": ca,
        },
        "sasl_tls": {
            "bootstrap.servers": f"{HOST}:{KAFKA_SASL_TLS_PORT}",
            **sasl,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-256",
            "ssl.ca.location": ca,
        },
    }
    redis = {
        "password": f"redis://:{kept.redis_password}@{HOST}:{REDIS_SECURE_PORT}/0",
        "acl": f"redis://{REDIS_ACL_USER}:{kept.redis_acl_password}@{HOST}:{REDIS_SECURE_PORT}/0",
        "tls": (
            f"rediss://{REDIS_ACL_USER}:{kept.redis_acl_password}@{HOST}:{REDIS_TLS_PORT}/0"
            f"?ssl_ca_certs={ca}"
        ),
    }
    return LocalClients(kafka, redis)
