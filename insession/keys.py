"""Join keys for people: Redis key names and the offers topic's message key.

A *person* is a customer id, or `anon:<device>` for a device not linked to a customer. Where
a person only joins records together (Redis key names, the offers topic's message key), the
engine can use a keyed hash of it instead of the raw id: set a key secret
(`INSESSION_KEY_SECRET`) and every such key becomes `person_key(person, secret)`, the
lowercase hex HMAC-SHA256 of the person's UTF-8 bytes keyed with the secret's. Without one
(the default) keys hold the raw ids, as before. The values (summaries, offers) still name the
customer: storefronts need them.

A storefront finds a customer's summary with the same secret:

>>> summary_key("c-42", "s3cret")[:32]
'insession:summary:ecce45220843c1'
>>> summary_key("c-42", "")
'insession:summary:c-42'
"""

from __future__ import annotations

import hashlib
import hmac

from insession.operators.identity import anonymous_person
from insession.schemas.events import Event

DEFAULT_PREFIX = "insession:"


def person_key(person: str, secret: str) -> str:
    """The join key of `person` (a customer id, or `anon:<device>`): itself without a secret,
    else its HMAC-SHA256 under `secret`, in hex."""
    if not secret:
        return person
    return hmac.new(secret.encode("utf-8"), person.encode("utf-8"), hashlib.sha256).hexdigest()


def summary_key(person: str, secret: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Redis key of the person's summary (JSON)."""
    return f"{prefix}summary:{person_key(person, secret)}"


def offers_key(person: str, secret: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Redis key of the person's latest offers (a list of offer JSON, newest first)."""
    return f"{prefix}offers:{person_key(person, secret)}"


def recs_key(person: str, secret: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Redis key of the person's "for you" shelf (JSON list of recommended items)."""
    return f"{prefix}recs:{person_key(person, secret)}"


def dormant_key(person: str, secret: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Redis key of the person's dormant record (JSON), while they are out of memory."""
    return f"{prefix}dormant:{person_key(person, secret)}"


def slot_tag(person: str, secret: str) -> str:
    """The Redis Cluster hash tag of a person's offer ledger: `{<person key>}`, so that the
    index and its entries share a slot (an erasure deletes them in one script). A person key
    with a brace in it would cut the tag short, and an empty one is no tag: its SHA-256 stands
    in for it there."""
    joined = person_key(person, secret)
    if not joined or "{" in joined or "}" in joined:
        joined = hashlib.sha256(joined.encode("utf-8")).hexdigest()
    return f"{{{joined}}}"


def ledger_key(person: str, secret: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Redis key of the person's offer-ledger index (offer ids by expiry, a sorted set)."""
    return f"{prefix}ledger:{slot_tag(person, secret)}"


def offer_key(person: str, offer_id: str, secret: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Redis key of the first content sent under an offer id (the id is a hash already), in
    the slot of the person's ledger index."""
    return f"{offer_prefix(person, secret, prefix)}{offer_id}"


def offer_prefix(person: str, secret: str, prefix: str = DEFAULT_PREFIX) -> str:
    """What the keys of a person's ledger entries start with (the offer id follows)."""
    return f"{prefix}offer:{slot_tag(person, secret)}:"


def person_of(event: Event) -> str:
    """The person an offer (or another event the engine addresses) is for."""
    return shopper(event.customer_id, event.anonymous_id)


def shopper(customer_id: str | None, anonymous_id: str | None) -> str:
    """The person of a customer id, else of a device (`anon:<device>`)."""
    if customer_id is not None:
        return customer_id
    if anonymous_id is None:
        raise ValueError("name the shopper: customer_id or anonymous_id")
    return anonymous_person(anonymous_id)


def message_key(event: Event, secret: str) -> str | None:
    """The offers topic's message key: the customer, else the device, as before without a
    secret; with one, `person_key` of the person (the same key as in Redis)."""
    if not secret:
        return event.partition_key()
    return person_key(person_of(event), secret)


def shopper_message_key(customer_id: str | None, anonymous_id: str | None, secret: str) -> str:
    """`message_key` of the offers to a customer (or, without `customer_id`, to a device not
    linked to one), for a storefront that follows them."""
    person = shopper(customer_id, anonymous_id)
    if secret:
        return person_key(person, secret)
    return customer_id if customer_id is not None else str(anonymous_id)
