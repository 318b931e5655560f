"""Signed identity links: what is signed, and the decoder refusing links it cannot verify."""

from __future__ import annotations

import dataclasses

import pytest
from insession.models.sentiment.vader import vader_score
from insession.operators.routing import Inbound, Routed, decode_inbound
from insession.schemas.codec import encode
from insession.schemas.events import DeadLetter, IdentityLink, ProductView
from insession.schemas.signatures import (
    identity_link_signature,
    sign_identity_link,
    signature_valid,
    signed_links,
)

T0 = 1_764_000_000_000
LINK = IdentityLink(
    event_id="l-1", event_time=T0, channel="web", customer_id="c-7", anonymous_id="dev-1"
)


def test_the_signature_is_the_documented_hmac() -> None:
    # From `printf 'insession.identity_link.v1\ndev-1\nc-7\nl-1\n1764000000000' |
    # openssl dgst -sha256 -hmac s3cret`: another implementation of the documented recipe.
    assert (
        identity_link_signature(
            "s3cret", anonymous_id="dev-1", customer_id="c-7", event_id="l-1", event_time=T0
        )
        == "5395a6d02f4ed700a962b6cd15ab57e555f65c0e33d08b0cf15e114e28d41f68"
    )


def test_a_signed_link_verifies_and_any_change_breaks_it() -> None:
    signed = sign_identity_link(LINK, "s3cret")
    assert signature_valid(signed, "s3cret")
    assert not signature_valid(signed, "other secret")
    assert not signature_valid(LINK, "s3cret"), "unsigned"
    for change in (
        {"customer_id": "victim"},
        {"anonymous_id": "dev-2"},
        {"event_id": "l-2"},
        {"event_time": T0 + 1},
    ):
        assert not signature_valid(dataclasses.replace(signed, **change), "s3cret"), change


def test_ids_with_a_line_feed_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="line feed"):
        identity_link_signature(
            "s", anonymous_id="a\nb", customer_id="c", event_id="e", event_time=T0
        )
    forged = dataclasses.replace(LINK, customer_id="c\n7", signature="0" * 64)
    assert not signature_valid(forged, "s")


def test_signed_links_signs_only_identity_links_and_only_with_a_secret() -> None:
    view = ProductView(event_id="v", event_time=T0, channel="web", anonymous_id="d", product_id="p")
    assert list(signed_links([LINK, view], "")) == [LINK, view]
    link, same = signed_links([LINK, view], "s3cret")
    assert same == view and signature_valid(link, "s3cret")


def _decoded(event: IdentityLink | ProductView, secret: str) -> Routed | DeadLetter:
    return decode_inbound(
        Inbound("insession.identity", 0, 7, encode(event)),
        1 << 20,
        sentiment=vader_score,
        identity_secret=secret,
    )


def test_with_a_secret_the_decoder_dead_letters_unverified_links() -> None:
    unsigned = _decoded(LINK, "s3cret")
    assert isinstance(unsigned, DeadLetter)
    assert (unsigned.reason, unsigned.field) == ("unverified_identity_link", "signature")
    assert "no signature" in unsigned.error and unsigned.source_offset == 7
    wrong = _decoded(sign_identity_link(LINK, "guessed"), "s3cret")
    assert isinstance(wrong, DeadLetter) and "does not match" in wrong.error
    good = _decoded(sign_identity_link(LINK, "s3cret"), "s3cret")
    assert isinstance(good, Routed) and good.event.customer_id == "c-7"


def test_without_a_secret_links_need_no_signature() -> None:
    assert isinstance(_decoded(LINK, ""), Routed)
