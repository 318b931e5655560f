"""Longer fault runs than the tests': a Redis outage, a broker restart, a malformed flood.

Run (Kafka and Redis up: `insession services up`; each scenario starts what else it needs,
e.g. a private Redis to freeze or a private broker to restart):

    .venv/bin/python bench/faults.py [--redis-outage-s 120] [--broker-down-s 30]
        [--customers 200] [--events-each 100] [--rate 500]

Prints each scenario's report: events, how long the fault lasted, what the flow did during
it, and how long it took to converge after (the same scenario code the tests run).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' scenario code

from insession.connectors.kafka_admin import create_topics, delete_topics
from insession.connectors.redis_client import delete_prefixed
from insession.settings import Settings
from tests.integration.fault_scenarios import Traffic, broker_restart, redis_outage


def _settings(base: Settings) -> Settings:
    tag = uuid.uuid4().hex[:8]
    topics = {stream: f"faults.{tag}.{stream}" for stream in base.topics}
    return dataclasses.replace(base, topics=topics, partitions=2, redis_prefix=f"faults:{tag}:")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-outage-s", type=float, default=120.0)
    parser.add_argument("--broker-down-s", type=float, default=30.0)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--events-each", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--skip", nargs="*", default=(), choices=("redis", "broker"))
    args = parser.parse_args()
    traffic = Traffic(customers=args.customers, each=args.events_each, tag="fault")
    base = Settings.load()
    with tempfile.TemporaryDirectory() as work:
        if "redis" not in args.skip:
            settings = _settings(base)
            create_topics(settings)
            try:
                # Traffic spread over the outage and a little after it.
                rate = min(args.rate, len(traffic.events(0)) / (args.redis_outage_s + 10))
                report = redis_outage(
                    settings,
                    Path(work) / "redis",
                    outage_s=args.redis_outage_s,
                    traffic=traffic,
                    rate=rate,
                )
                print("redis outage:", report)
            finally:
                delete_topics(settings.kafka_client(), settings.topics.values())
                delete_prefixed(settings.redis_url, settings.redis_prefix)
        if "broker" not in args.skip:
            report = broker_restart(
                _settings(base),
                Path(work) / "broker",
                down_s=args.broker_down_s,
                traffic=traffic,
                rate=args.rate,
            )
            print("broker restart:", report)


if __name__ == "__main__":
    main()
