"""decode_inbound: shoppers' events become `Routed`, product updates `FeedItem` (never a
person's), and a bad product update a dead letter naming its field."""

from __future__ import annotations

import base64

import orjson
from insession.models.sentiment.vader import vader_score
from insession.operators.routing import FeedItem, Inbound, Routed, decode_inbound
from insession.schemas.codec import DEFAULT_MAX_BYTES, encode
from insession.schemas.events import DeadLetter, ProductUpdate, ProductView

from tests.schemas.strategies import message

T0 = 1_764_000_000_000


def _decode(raw: bytes, **kw: object) -> Routed | FeedItem | DeadLetter:
    return decode_inbound(
        Inbound("shop.products", 1, 7, raw), DEFAULT_MAX_BYTES, T0, sentiment=vader_score, **kw
    )


def test_a_product_update_travels_as_a_feed_item_with_its_order() -> None:
    update = ProductUpdate(event_id="u1", event_time=T0 - 5, product_id="p-1", in_stock=False)
    item = _decode(encode(update))
    assert isinstance(item, FeedItem) and not isinstance(item, Routed)
    assert item.event == update and item.order == (T0 - 5, "shop.products", 1, 7)
    view = ProductView(
        event_id="v1", event_time=T0, channel="web", anonymous_id="dev-1", product_id="p-1"
    )
    assert isinstance(_decode(encode(view)), Routed)


def test_a_bad_product_update_is_a_dead_letter_naming_the_field() -> None:
    raw = encode(ProductUpdate(event_id="u1", event_time=T0, product_id="p-1"))
    raw = raw.replace(b'"attributes":null', b'"attributes":{"colour":["red"]}')
    letter = _decode(raw)
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.field, letter.stage) == (
        "wrong_type",
        "attributes.colour",
        "decode",
    )
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "shop.products",
        1,
        7,
    )
    assert base64.b64decode(letter.original) == raw


def test_a_product_update_dated_ahead_of_the_wall_clock_is_refused_live() -> None:
    ahead = encode(ProductUpdate(event_id="u1", event_time=T0 + 600_000, product_id="p-1"))
    letter = _decode(ahead, ahead_tolerance_ms=300_000)
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.field) == ("event_time_ahead", "event_time")
    assert isinstance(_decode(ahead), FeedItem), "replays have no wall clock to compare with"


def test_a_product_update_with_shopper_ids_still_names_no_shopper() -> None:
    raw = message("product_update", customer_id="c-1", anonymous_id="dev-1")
    item = _decode(orjson.dumps(raw))
    assert isinstance(item, FeedItem)
    assert not hasattr(item.event, "customer_id") and not hasattr(item.event, "anonymous_id")
