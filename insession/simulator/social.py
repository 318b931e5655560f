"""Social posts about the shop: complaint and praise templates, by customers and others."""

from __future__ import annotations

import random
from collections.abc import Iterator

from insession.schemas.events import SocialPost
from insession.simulator.catalogue import CATEGORIES, Product, Shop
from insession.simulator.config import DAY_MS, MINUTE_MS, SimulationConfig
from insession.simulator.draws import new_event_id
from insession.simulator.sessions import Session
from insession.simulator.shoppers import HANDLE_SUFFIXES, HANDLE_WORDS

SOCIAL_PLATFORMS = ("instagram", "tiktok", "x")
SOCIAL_PLATFORM_WEIGHTS = (0.5, 0.3, 0.2)
PLATFORM_CHANNEL = {"instagram": "instagram", "tiktok": "tiktok", "x": "other"}
NEGATIVE_POSTS = (
    "Ordered the {item} two weeks ago, still not here. Terrible service, no reply from the "
    "chat. So annoyed.",
    "Really disappointed with my {item}. The zip broke after two days. Never again.",
    "Worst customer service ever. Waited 45 minutes on hold about a refund for my {item}.",
    "The {item} looks nothing like the photos. Cheap fabric, awful fit. Returning it, so "
    "disappointed.",
    "Charged twice for my order and still no refund. This is unacceptable.",
    "Parcel marked as delivered but nothing arrived. So angry and fed up with this shop.",
    "Your website is so frustrating, the search can't find anything and the delivery costs "
    "are hidden until checkout. Terrible.",
    "Sizes are all over the place, the {item} is way too small. Sad, I hated sending it back.",
    "Delivery late again, third time. Useless courier, no apology. Really disappointed and "
    "annoyed.",
    "The {item} fell apart after one wash. Poor quality for that price, what a waste.",
)
"""Complaints as shoppers write them; VADER and the learned model score every one below -0.3
(tested)."""
POSITIVE_POSTS = (
    "Absolutely love my new {item}! Great quality and it arrived a day early",
    "Best {item} I've ever bought. Fits perfectly, thank you!",
    "Super happy with the service, they sorted my exchange in minutes. Amazing team!",
    "Obsessed with this {item}, so comfortable and stylish. Highly recommend!",
    "Fast delivery, beautiful packaging, and the {item} is gorgeous. Will definitely order again.",
    "Wore my new {item} to a wedding and got so many compliments. Love it!",
    "Great prices and lovely staff in the store today. Happy customer :)",
    "The {item} is perfect, exactly like the pictures. Great value, thanks!",
)
"""Praise; VADER and the learned model score every one above 0.3 (tested)."""
HASHTAGS = ("", "", " #ootd", " #fashion", " #style", " #newin")


def _post_text(rng: random.Random, negative: bool, item: str) -> str:
    templates = NEGATIVE_POSTS if negative else POSITIVE_POSTS
    return rng.choice(templates).format(item=item) + rng.choice(HASHTAGS)


def _post_score(rng: random.Random, negative: bool) -> float:
    """The source platform's own score, when it sends one: clearly on the post's side."""
    magnitude = round(rng.uniform(0.4, 0.95), 2)
    return -magnitude if negative else magnitude


def _social_post(
    rng: random.Random,
    config: SimulationConfig,
    when: int,
    negative: bool,
    product: Product | None,
    customer_id: str | None,
    handle: str,
) -> SocialPost:
    platform = rng.choices(SOCIAL_PLATFORMS, SOCIAL_PLATFORM_WEIGHTS)[0]
    if product is not None:
        item = product.name.split(" ", 1)[1]
    else:
        item = rng.choice(CATEGORIES[rng.choice(tuple(CATEGORIES))][1])
    scored = rng.random() < config.scored_post_rate
    return SocialPost(
        event_id=new_event_id(rng),
        event_time=when,
        channel=PLATFORM_CHANNEL[platform],
        customer_id=customer_id,
        platform=platform,
        author_handle=None if customer_id else handle,
        text=_post_text(rng, negative, item),
        score=_post_score(rng, negative) if scored else None,
        product_ids=(product.product_id,) if product else (),
        brand=product.brand if product else None,
    )


def maybe_post(session: Session) -> None:
    """After a session, maybe a post about it: complaints follow bad visits, praise purchases."""
    rng = session.rng
    config = session.config
    customer = session.customer
    negative_p = config.negative_post_rate * (4.0 if session.bad_experience else 1.0)
    positive_p = config.positive_post_rate * (3.0 if session.purchased else 1.0)
    roll = rng.random()
    if roll >= negative_p + positive_p:
        return
    negative = roll < negative_p
    product = rng.choice(customer.bought) if customer.bought and rng.random() < 0.7 else None
    delay = int(rng.uniform(5 * MINUTE_MS, (3 if session.purchased else 1) * DAY_MS))
    who = customer.customer_id if customer.social_linked else None
    session.deferred.append(
        _social_post(rng, config, session.clock + delay, negative, product, who, customer.handle)
    )


def public_posts(shop: Shop) -> Iterator[SocialPost]:
    """Brand mentions by people who are not (known) customers: handles only."""
    config = shop.config
    rng = random.Random(f"{config.seed}:public-posts")
    count = round(config.customers * config.public_posts_per_customer)
    times = sorted(rng.randrange(config.start_ms, config.end_ms) for _ in range(count))
    share_negative = config.negative_post_rate / (
        (config.negative_post_rate + config.positive_post_rate) or 1.0
    )
    for when in times:
        category = rng.choice(tuple(CATEGORIES))
        product = rng.choice(shop.catalogue[category]) if rng.random() < 0.4 else None
        handle = f"{rng.choice(HANDLE_WORDS)}{rng.choice(HANDLE_SUFFIXES)}{rng.randrange(1000)}"
        negative = rng.random() < share_negative
        yield _social_post(rng, config, when, negative, product, None, handle)
