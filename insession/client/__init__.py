"""A storefront's client of the engine: send events, follow offers, read the shelf.

>>> from insession.client import Storefront
>>> shop = Storefront(Settings.load())                             # doctest: +SKIP
>>> shop.send(ProductView, customer_id="c-42", product_id="boots", price=90.0)  # doctest: +SKIP
>>> for offer in shop.offers(customer_id="c-42").wait(timeout_s=5):  # doctest: +SKIP
...     print(offer.kind, offer.reason_codes)

`docs/client.md` walks through it, and `docs/examples/storefront_client.py` runs it.
"""

from insession.client.feed import OfferFeed, OfferUpdate
from insession.client.live_offers import LiveOffers
from insession.client.publisher import EventPublisher, PublishError
from insession.client.reader import Shelf, ShelfItem, StateReader
from insession.client.storefront import Storefront

__all__ = [
    "EventPublisher",
    "LiveOffers",
    "OfferFeed",
    "OfferUpdate",
    "PublishError",
    "Shelf",
    "ShelfItem",
    "StateReader",
    "Storefront",
]
