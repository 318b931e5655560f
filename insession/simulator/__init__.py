"""A seeded generator of realistic multi-channel storefront traffic, for demos and load tests."""

from insession.simulator.catalogue import (
    BRANDS,
    CATEGORIES,
    COLOURS,
    LOOKS,
    PRODUCTS_PER_CATEGORY,
    Product,
    Shop,
    build_catalogue,
    build_looks,
)
from insession.simulator.config import (
    DAY_MS,
    DEFAULT_CHANNEL_MIX,
    DEFAULT_START_MS,
    HOUR_MS,
    MINUTE_MS,
    SimulationConfig,
    parse_start,
)
from insession.simulator.kafka import ProduceStats, produce
from insession.simulator.malformed import MALFORMATIONS, malform
from insession.simulator.messages import (
    MALFORMED_STREAM,
    STREAM_OF,
    encode_item,
    key_of,
    stream_of,
    write_lines,
)
from insession.simulator.sessions import (
    CURRENCY,
    FAILED_QUERIES,
    HELP_PAGES,
    LOGIN_METHOD,
    LOYAL_PURCHASE_FACTOR,
    MAX_PAUSE_MS,
)
from insession.simulator.shoppers import HANDLE_SUFFIXES, HANDLE_WORDS, HOUR_WEIGHTS, Customer
from insession.simulator.social import (
    HASHTAGS,
    NEGATIVE_POSTS,
    PLATFORM_CHANNEL,
    POSITIVE_POSTS,
    SOCIAL_PLATFORM_WEIGHTS,
    SOCIAL_PLATFORMS,
)
from insession.simulator.timeline import SESSION_GAP_MS
from insession.simulator.traffic import simulate

__all__ = [
    "BRANDS",
    "CATEGORIES",
    "COLOURS",
    "CURRENCY",
    "DAY_MS",
    "DEFAULT_CHANNEL_MIX",
    "DEFAULT_START_MS",
    "FAILED_QUERIES",
    "HANDLE_SUFFIXES",
    "HANDLE_WORDS",
    "HASHTAGS",
    "HELP_PAGES",
    "HOUR_MS",
    "HOUR_WEIGHTS",
    "LOGIN_METHOD",
    "LOOKS",
    "LOYAL_PURCHASE_FACTOR",
    "MALFORMATIONS",
    "MALFORMED_STREAM",
    "MAX_PAUSE_MS",
    "MINUTE_MS",
    "NEGATIVE_POSTS",
    "PLATFORM_CHANNEL",
    "POSITIVE_POSTS",
    "PRODUCTS_PER_CATEGORY",
    "SESSION_GAP_MS",
    "SOCIAL_PLATFORMS",
    "SOCIAL_PLATFORM_WEIGHTS",
    "STREAM_OF",
    "Customer",
    "ProduceStats",
    "Product",
    "Shop",
    "SimulationConfig",
    "build_catalogue",
    "build_looks",
    "encode_item",
    "key_of",
    "malform",
    "parse_start",
    "produce",
    "simulate",
    "stream_of",
    "write_lines",
]
