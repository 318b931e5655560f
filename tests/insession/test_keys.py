"""Join keys for people: raw ids by default, a keyed hash with a key secret."""

from __future__ import annotations

from insession.schemas.events import Offer
from redis.crc import key_slot

from insession.keys import (
    ledger_key,
    message_key,
    offer_key,
    offer_prefix,
    person_key,
    slot_tag,
    summary_key,
)

T0 = 1_764_000_000_000


def _offer(**who: str) -> Offer:
    return Offer(
        event_id="o",
        event_time=T0,
        channel="web",
        offer_id="of-1",
        action_id="a",
        kind="help",
        score=1.0,
        probability=1.0,
        reason_codes=("r",),
        model_version="m",
        decided_at=T0,
        expires_at=T0 + 1,
        **who,
    )


def test_without_a_secret_keys_are_the_raw_ids() -> None:
    assert person_key("c-42", "") == "c-42"
    assert summary_key("anon:dev-1", "", "p:") == "p:summary:anon:dev-1"
    assert message_key(_offer(customer_id="c-42"), "") == "c-42"
    assert message_key(_offer(anonymous_id="dev-1"), "") == "dev-1", "as before"


def test_with_a_secret_keys_are_the_hmac_of_the_person() -> None:
    # `printf 'c-42' | openssl dgst -sha256 -hmac s3cret`
    hashed = "ecce45220843c1efa87ad05f89f131dff97fb6dd27a7ac78904ea97c52b1e6c3"
    assert person_key("c-42", "s3cret") == hashed
    assert message_key(_offer(customer_id="c-42"), "s3cret") == hashed
    device = message_key(_offer(anonymous_id="dev-1"), "s3cret")
    assert device == person_key("anon:dev-1", "s3cret"), "the same key as in Redis"
    assert person_key("c-42", "another") != hashed


def test_a_persons_ledger_index_and_entries_share_a_cluster_slot() -> None:
    """The erasure script deletes them together, which a cluster allows only in one slot; an
    id with braces (which would cut the hash tag short) gets a hashed tag."""
    people = ["c-42", "anon:dev-1", "a}b", "}x", "{y", "a{b}c", "{}", ""]
    for person in people:
        for secret in ("", "s3cret"):
            index = ledger_key(person, secret, "p:")
            entry = offer_key(person, "of-1", secret, "p:")
            assert key_slot(index.encode()) == key_slot(entry.encode()), (person, secret)
            assert entry.startswith(offer_prefix(person, secret, "p:"))
    assert slot_tag("c-42", "") == "{c-42}"
    assert len({slot_tag(p, "") for p in people}) == len(people), "distinct people, distinct tags"
    slots = {key_slot(ledger_key(f"c-{n}", "").encode()) for n in range(100)}
    assert len(slots) > 90, "people spread over the slots"
