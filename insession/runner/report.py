"""What `insession replay` prints after running the flow: the story, not just a count."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from insession.connectors.recording import read_lines
from insession.runner.replay import ReplayResult
from insession.runner.validate import print_counts
from insession.schemas.codec import decode
from insession.schemas.events import DeadLetter


def _dead_letter_reasons(result: ReplayResult) -> Counter[str]:
    reasons: Counter[str] = Counter()
    if result.dead_letters:
        for line in read_lines(result.dead_letters_path):
            letter = decode(line.raw)
            if isinstance(letter, DeadLetter):
                reasons[f"{letter.reason} ({letter.field or '-'})"] += 1
    return reasons


def print_flow_report(result: ReplayResult, out: TextIO, journeys: int = 3) -> None:
    """Events, decisions, offers by kind, action and reason, and a few shoppers' journeys."""
    stats = result.stats
    events = sum(stats.events.values())
    rate = events / result.seconds if result.seconds else 0.0
    # The offers file holds the withdrawals too, in the order they were made.
    withdrawn = sum(stats.withdrawals.values())
    offers = result.offers - withdrawn
    print(
        f"replayed {events:,} events in {result.seconds:.2f} s ({rate:,.0f} events/s): "
        f"{offers:,} offers, {withdrawn:,} offers withdrawn, {result.dead_letters:,} dead "
        f"letters, {len(stats.journeys):,} shoppers, {stats.devices_stitched:,} devices "
        f"stitched to customers, {stats.erasures:,} erasures, {stats.duplicates:,} duplicate "
        "events dropped",
        file=out,
    )
    control = stats.reasons["control:random"]
    print(
        f"offers by the policy {offers - control:,}, to the control group (random "
        f"eligible offer) {control:,}",
        file=out,
    )
    tables = (
        ("events by type", stats.events),
        ("decision points by outcome", stats.decisions),
        ("offers by kind", stats.offers_by_kind),
        ("offers by action", stats.offers_by_action),
        ("product offers by strategy", stats.offers_by_strategy),
        ("items on shelves, by strategy", stats.shelf_items),
        ("reason codes", stats.reasons),
        ("decisions closed for learning, by group and outcome", stats.learning),
        ("offers withdrawn, by reason", stats.withdrawals),
        ("dead letters by reason", _dead_letter_reasons(result)),
    )
    for title, counts in tables:
        if counts:
            print_counts(title, counts, out, limit=12)
    top = [person for person, _ in stats.offers_per_person.most_common(journeys)]
    for person in top:
        print(f"\njourney of {person} ({stats.offers_per_person[person]} offers)", file=out)
        for step in stats.journeys[person]:
            print(f"  {step}", file=out)
    print(f"\noffers and withdrawals written to {result.offers_path}", file=out)
    if result.dead_letters:
        print(f"dead letters written to {result.dead_letters_path}", file=out)


def replay_summary(
    result: ReplayResult, *, processes: int, workers: int, policy: str
) -> dict[str, object]:
    """What `insession replay --summary-json` writes: the run's figures for scripts."""
    stats = result.stats
    stats.finish()
    events = stats.events.total()
    return {
        "events": events,
        "seconds": round(result.seconds, 3),
        "events_per_s": round(events / result.seconds, 1) if result.seconds > 0 else None,
        "offers": result.offers,
        "dead_letters": result.dead_letters,
        "people_seen": len(stats.journeys),
        "people_in_memory_at_end": stats.people_in_memory,
        "max_rss_bytes": stats.max_rss_bytes,
        "processes": processes,
        "workers": workers,
        "policy": policy,
        "offers_by_kind": dict(stats.offers_by_kind),
        "offers_by_action": dict(stats.offers_by_action),
        "product_offers_by_strategy": dict(stats.offers_by_strategy),
        "erasures": stats.erasures,
        "devices_stitched": stats.devices_stitched,
        "duplicates": stats.duplicates,
    }
