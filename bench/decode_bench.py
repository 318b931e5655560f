"""Decode + validate throughput for a realistic click event, beside plain `orjson.loads`.

Run: `.venv/bin/python bench/decode_bench.py [--events N]`. Prints events/s for parsing alone
(the floor any validating decoder sits on), for the checking decoder alone
(`schemas.codec.decode_checked`, what `decode` was before its msgspec fast path), for
`schemas.codec.decode`, and for the same messages checked with the `jsonschema` library against
the checked-in JSON Schema, all in one process on the same messages, with ratios against the
parse-only baseline and of `decode` against the checking decoder.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from insession.schemas.codec import decode, decode_checked, encode
from insession.schemas.events import ProductView

CATEGORIES = ("apparel.jacket", "apparel.scarf", "shoes.sneakers", "home.lamp", "beauty.perfume")


def click_events(count: int, seed: int = 7) -> list[bytes]:
    """Realistic product views: known or anonymous shoppers, prices, categories, brands."""
    rng = random.Random(seed)
    messages = []
    for i in range(count):
        known = rng.random() < 0.6
        messages.append(
            encode(
                ProductView(
                    event_id=f"evt-{i:09d}-{rng.getrandbits(32):08x}",
                    event_time=1_764_000_000_000 + i * 37,
                    channel=rng.choice(("web", "app", "instagram")),
                    customer_id=f"cust-{rng.randrange(50_000):06d}" if known else None,
                    anonymous_id=f"dev-{rng.getrandbits(48):012x}",
                    session_id=f"sess-{rng.getrandbits(40):010x}",
                    product_id=f"sku-{rng.randrange(200_000):07d}",
                    price=round(rng.uniform(5, 400), 2),
                    currency="EUR",
                    category=rng.choice(CATEGORIES),
                    brand=rng.choice(("Nord", "Lumen", "Atelier K", "Solé")),
                )
            )
        )
    return messages


def rates(
    fns: dict[str, Callable[[bytes], object]], messages: list[bytes], repeats: int = 9
) -> dict[str, float]:
    """Best-of-`repeats` events per second of each function over all messages. The functions
    take turns in each round, so that a slow spell of a noisy machine hits them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            started = time.process_time()
            for message in messages:
                fn(message)
            best[name] = min(best[name], time.process_time() - started)
    return {name: len(messages) / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    messages = click_events(args.events)
    assert all(isinstance(decode(m), ProductView) for m in messages[:1000])
    size = sum(map(len, messages)) / len(messages)
    print(f"{len(messages):,} product_view messages, {size:.0f} bytes on average")

    assert all(decode(m) == decode_checked(m) for m in messages[:1000])
    measured = rates({"parse": orjson.loads, "checked": decode_checked, "ours": decode}, messages)
    baseline, checked, ours = measured["parse"], measured["checked"], measured["ours"]
    print(f"orjson.loads only           {baseline:>12,.0f} events/s  (baseline)")
    print(
        f"codec.decode_checked        {checked:>12,.0f} events/s  "
        f"{checked / baseline:.2f}x baseline, {1e6 / checked:.2f} us/event"
    )
    print(
        f"codec.decode                {ours:>12,.0f} events/s  "
        f"{ours / baseline:.2f}x baseline, {1e6 / ours:.2f} us/event, "
        f"{ours / checked:.2f}x the checking decoder"
    )

    try:
        import jsonschema
    except ImportError:
        print("jsonschema not installed: skipping the library comparison")
        return
    schema_path = (
        Path(__file__).resolve().parents[1] / "schemas" / "json" / "product_view.schema.json"
    )
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    sample = messages[: max(1, len(messages) // 10)]
    library = rates({"library": lambda m: validator.validate(orjson.loads(m))}, sample, 1)[
        "library"
    ]
    print(
        f"orjson + jsonschema library {library:>12,.0f} events/s  "
        f"{library / baseline:.2f}x baseline (ours is {ours / library:.0f}x faster)"
    )


if __name__ == "__main__":
    main()
