"""A storefront's backend talking to the engine: a shopper searches twice and finds nothing,
the engine offers help within the session, and the page reads her summary.

Run it beside a live engine (`insession services up`, then `insession run`):

    python docs/examples/storefront_client.py

It reads the same settings as the engine (`insession.toml`, `INSESSION_*`).
"""

from __future__ import annotations

import uuid

from insession.schemas.events import Search

from insession.client import Storefront
from insession.settings import Settings


def main() -> None:
    shopper = f"example-{uuid.uuid4().hex[:8]}"
    with Storefront(Settings.load()) as shop, shop.offers(customer_id=shopper) as feed:
        for query in ("gore-tex boots", "goretex boots"):
            shop.send(Search, customer_id=shopper, query=query, result_count=0)
        shop.flush()
        for offer in feed.wait(timeout_s=30):
            print(f"offer: {offer.kind} {offer.action_id} ({', '.join(offer.reason_codes)})")
        summary = shop.summary(customer_id=shopper) or {}
        print(
            "failed searches seen by the engine:", summary.get("session", {}).get("failed_searches")
        )


if __name__ == "__main__":
    main()
