"""Signed identity links: the HMAC-SHA256 a storefront's backend puts on an `identity_link`.

With an identity secret configured (`INSESSION_IDENTITY_SECRET`), the engine links a device
to a customer only on an `identity_link` whose `signature` is the lowercase hex
HMAC-SHA256, keyed with the secret's UTF-8 bytes, of the UTF-8 bytes of five lines joined by
a line feed (no trailing one):

    insession.identity_link.v1
    <anonymous_id>
    <customer_id>
    <event_id>
    <event_time, in decimal digits>

A link whose ids hold a line feed is never valid (the joined text would be ambiguous). The
event id and time are signed so that a signature vouches for one login, not for the pair
forever; the engine does not keep a list of used signatures.

>>> identity_link_signature("s3cret", anonymous_id="dev-1", customer_id="c-7",
...                         event_id="l-1", event_time=1764000000000)[:16]
'5395a6d02f4ed700'
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import TypeVar

from insession.schemas.events import IdentityLink

SIGNED_PREFIX = "insession.identity_link.v1"

T = TypeVar("T")


def identity_link_signature(
    secret: str, *, anonymous_id: str, customer_id: str, event_id: str, event_time: int
) -> str:
    """The `signature` a backend puts on the identity_link it sends at a login."""
    fields = (SIGNED_PREFIX, anonymous_id, customer_id, event_id, str(event_time))
    if any("\n" in field for field in fields):
        raise ValueError("identity link fields must not contain a line feed")
    message = "\n".join(fields).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_identity_link(link: IdentityLink, secret: str) -> IdentityLink:
    """`link` with its signature (what a storefront backend sends)."""
    assert link.anonymous_id is not None and link.customer_id is not None  # the contract's rules
    signature = identity_link_signature(
        secret,
        anonymous_id=link.anonymous_id,
        customer_id=link.customer_id,
        event_id=link.event_id,
        event_time=link.event_time,
    )
    return dataclasses.replace(link, signature=signature)


def signature_valid(link: IdentityLink, secret: str) -> bool:
    """Whether `link` carries the signature `secret` gives it (compared in constant time)."""
    if link.signature is None or link.anonymous_id is None or link.customer_id is None:
        return False
    try:
        expected = identity_link_signature(
            secret,
            anonymous_id=link.anonymous_id,
            customer_id=link.customer_id,
            event_id=link.event_id,
            event_time=link.event_time,
        )
    except ValueError:
        return False
    return hmac.compare_digest(expected, link.signature)


def signed_links(items: Iterable[T], secret: str) -> Iterator[T]:
    """Every identity_link among `items` signed with `secret` (none when it is empty): what a
    shop's backend does, for simulated traffic and converted data sets."""
    for item in items:
        if secret and isinstance(item, IdentityLink):
            yield sign_identity_link(item, secret)  # type: ignore[misc]
        else:
            yield item
