"""The event contracts shared by storefronts and the engine (schema version 1.x).

Every contract is a frozen dataclass. Wire format: one JSON object per message, with a `type`
that names the contract and a `schema_version` "MAJOR.MINOR". Times are integer epoch
milliseconds (UTC). Readers ignore fields they do not know, so producers may add fields in a
new minor version; a new major version is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from insession.schemas import compact
from insession.schemas.fields import (
    MAX_KEY,
    MAX_TEXT,
    ContractViolation,
    epoch_ms,
    ident,
    spec,
)

SCHEMA_VERSION = "1.0"
SCHEMA_MAJOR = 1

CHANNELS = (
    "web",
    "app",
    "whatsapp",
    "instagram",
    "tiktok",
    "store",
    "email",
    "call_center",
    "other",
)
PLATFORMS = ("instagram", "tiktok", "x", "facebook", "whatsapp", "youtube", "review_site", "other")
OFFER_OUTCOMES = ("shown", "clicked", "accepted", "dismissed")
OFFER_KINDS = (
    "product",
    "discount",
    "free_delivery",
    "help",
    "loyalty",
    "service_recovery",
    "content",
)
MAX_ATTRIBUTES = 20
"""Free attributes a product update may carry (colour, size, material, ...)."""
IDENTITY_METHODS = ("login", "signup", "email_link", "loyalty_card", "checkout", "other")
WITHDRAWAL_REASONS = ("consent_revoked",)


def kind(name: str) -> str:
    """The `type` field of a contract: fixed to the contract's own name."""
    return spec(f"Always {name!r} for this contract.", default=name, choices=(name,))


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    """Fields every message carries."""

    type: str = spec("Names the contract.")
    schema_version: str = spec(
        "MAJOR.MINOR; readers accept any minor version of their major.",
        default=SCHEMA_VERSION,
        min_length=3,
        max_length=16,
    )

    RULES: ClassVar[tuple[tuple[str, ...], ...]] = ()
    """Rules across fields: in every group, at least one field must be present and not null.
    Checked in order by `Event.violation()`; the JSON Schema documents are generated from them.
    Subclasses override `RULES`, never `violation()`."""

    def __reduce__(self) -> tuple[Callable[..., Any], compact.State]:
        """Pickled as its class name and values: cheap to cross to another process."""
        return compact.reduce_contract(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stamped(Contract):
    """Fields every input message carries: which one it is, when and where it happened."""

    event_id: str = ident("Unique id chosen by the producer; used to drop duplicates.")
    event_time: int = epoch_ms("When it happened, epoch milliseconds UTC.")
    channel: str = spec("Where it happened.", choices=CHANNELS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Stamped):
    """Fields every storefront event carries besides its id, time and channel: who."""

    customer_id: str | None = ident("Known customer (pseudonymous id).", optional=True)
    anonymous_id: str | None = ident(
        "Device or cookie id before the customer is known.", optional=True
    )
    session_id: str | None = ident("Storefront session id, if the channel has one.", optional=True)

    RULES: ClassVar[tuple[tuple[str, ...], ...]] = (("customer_id", "anonymous_id"),)

    def partition_key(self) -> str | None:
        """The key of what the engine writes about the person (offers): the customer, else the
        device, so that a storefront finds one person's offers under one key."""
        return self.customer_id or self.anonymous_id

    def input_key(self) -> str | None:
        """The Kafka key a storefront gives the events it sends: the device, else the
        customer. One device's events then share a partition, in order, as the identity step
        reads them, and a recording split by it replays the same with any number of processes;
        a customer's events from several devices meet in the customer step, which orders them
        by event time."""
        return self.anonymous_id or self.customer_id

    def violation(self) -> ContractViolation | None:
        """The first rule of `RULES` that this event breaks, if any."""
        for group in type(self).RULES:
            for name in group:
                if getattr(self, name) is not None:
                    break
            else:
                if len(group) == 1:
                    detail = f"is required for {self.type}"
                else:
                    detail = f"{' or '.join(group)} is required"
                return ContractViolation(group[0], "missing_field", detail)
        return None


# --- click-stream -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PageView(Event):
    """A page was shown (home, category, help, delivery info, ...)."""

    type: str = kind("page_view")
    page_type: str = spec("What kind of page.", min_length=1, max_length=64)
    url: str | None = spec("Page path or URL.", default=None, max_length=2048)
    category: str | None = spec("Category shown, for category pages.", default=None, max_length=256)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductView(Event):
    """A product detail was shown."""

    type: str = kind("product_view")
    product_id: str = ident("Product (SKU or style) id.")
    price: float | None = spec("Unit price shown, if known.", default=None, minimum=0)
    currency: str | None = spec("ISO 4217 code.", default=None, min_length=3, max_length=3)
    category: str | None = spec(
        "Category path, e.g. 'apparel.jacket'.", default=None, max_length=256
    )
    brand: str | None = spec("Brand name.", default=None, max_length=256)


@dataclass(frozen=True, slots=True, kw_only=True)
class Search(Event):
    """A search was run; zero results marks a failed search."""

    type: str = kind("search")
    query: str = spec("The search text.", max_length=1024)
    result_count: int = spec("How many results were shown.", minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dwell(Event):
    """How long a page or product stayed in view."""

    type: str = kind("dwell")
    dwell_ms: int = spec("Time in view, milliseconds.", minimum=0, maximum=86_400_000)
    product_id: str | None = ident("Product in view, if any.", optional=True)
    page_type: str | None = spec("Page in view, if not a product.", default=None, max_length=64)


# --- cart -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CartAdd(Event):
    """Items were added to the cart."""

    type: str = kind("cart_add")
    product_id: str = ident("Product added.")
    quantity: int = spec("Units added.", default=1, minimum=1, maximum=10_000)
    unit_price: float | None = spec("Unit price, if known.", default=None, minimum=0)
    currency: str | None = spec("ISO 4217 code.", default=None, min_length=3, max_length=3)
    category: str | None = spec("Category path.", default=None, max_length=256)


@dataclass(frozen=True, slots=True, kw_only=True)
class CartRemove(Event):
    """Items were removed from the cart."""

    type: str = kind("cart_remove")
    product_id: str = ident("Product removed.")
    quantity: int = spec("Units removed.", default=1, minimum=1, maximum=10_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutStart(Event):
    """The shopper started checkout."""

    type: str = kind("checkout_start")
    cart_value: float | None = spec("Cart value at that moment.", default=None, minimum=0)
    currency: str | None = spec("ISO 4217 code.", default=None, min_length=3, max_length=3)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLine:
    """One line of a purchase."""

    product_id: str = ident("Product bought.")
    quantity: int = spec("Units bought.", default=1, minimum=1, maximum=10_000)
    unit_price: float | None = spec("Unit price paid, if known.", default=None, minimum=0)
    category: str | None = spec("Category path.", default=None, max_length=256)

    def __reduce__(self) -> tuple[Callable[..., Any], compact.State]:
        """Pickled as its class name and values, as contracts are."""
        return compact.reduce_contract(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Purchase(Event):
    """An order was placed."""

    type: str = kind("purchase")
    order_id: str = ident("Order id.")
    lines: tuple[OrderLine, ...] = spec("What was bought.", max_items=500)
    total: float | None = spec("Order total, if known.", default=None, minimum=0)
    currency: str | None = spec("ISO 4217 code.", default=None, min_length=3, max_length=3)


# --- social, identity, consent, erasure -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SocialPost(Event):
    """A post or mention about the brand; carries text, a score in [-1, 1], or both."""

    type: str = kind("social_post")
    platform: str = spec("Where it was posted.", choices=PLATFORMS)
    author_handle: str | None = spec(
        "Author's handle, if not a known customer.", default=None, min_length=1, max_length=256
    )
    text: str | None = spec("The post's text.", default=None, max_length=MAX_TEXT)
    score: float | None = spec(
        "Sentiment score, -1 (negative) to 1.", default=None, minimum=-1, maximum=1
    )
    product_ids: tuple[str, ...] = spec(
        "Products referenced.", default=(), max_items=50, min_length=1, max_length=256
    )
    brand: str | None = spec("Brand referenced.", default=None, max_length=256)

    RULES: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("customer_id", "author_handle"),
        ("text", "score"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityLink(Event):
    """An anonymous device/session id belongs to this customer (e.g. at login)."""

    type: str = kind("identity_link")
    method: str = spec(
        "How the customer was identified.", default="login", choices=IDENTITY_METHODS
    )
    signature: str | None = spec(
        "HMAC-SHA256 (hex) by the shop's backend; required when the engine has an identity "
        "secret (schemas/signatures.py says what is signed).",
        default=None,
        min_length=64,
        max_length=64,
    )

    RULES: ClassVar[tuple[tuple[str, ...], ...]] = (("anonymous_id",), ("customer_id",))


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent(Event):
    """The customer granted or revoked consent for a purpose."""

    type: str = kind("consent")
    granted: bool = spec("True to grant, false to revoke.")
    purpose: str = spec(
        "What the consent covers.",
        default="personalisation",
        choices=("personalisation", "marketing", "analytics"),
    )

    RULES: ClassVar[tuple[tuple[str, ...], ...]] = (("customer_id",),)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErasureRequest(Event):
    """Right to be forgotten: delete every trace of this customer."""

    type: str = kind("erasure_request")
    request_id: str = ident("Id of the request, for the audit trail.")

    RULES: ClassVar[tuple[tuple[str, ...], ...]] = (("customer_id",),)


# --- catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductUpdate(Stamped):
    """What the catalogue says of one product now, from a storefront or catalogue service."""

    # Not an `Event`: it carries no shopper, and no step keyed by person ever sees it. A field
    # left out (or null) is not stated and leaves what is known of the product as it was, so
    # a change of stock can be a small message; `attributes`, when given, replaces them all.
    type: str = kind("product_update")
    channel: str = spec(
        "Storefront whose catalogue it is; 'other' for one every channel shares.",
        default="other",
        choices=CHANNELS,
    )
    product_id: str = ident("Product (SKU or style) id, as the events name it.")
    title: str | None = spec("Name shown to shoppers.", default=None, min_length=1, max_length=512)
    price: float | None = spec("Current unit price.", default=None, minimum=0)
    currency: str | None = spec("ISO 4217 code.", default=None, min_length=3, max_length=3)
    category: str | None = spec(
        "Category path, e.g. 'apparel.jacket'.", default=None, min_length=1, max_length=256
    )
    brand: str | None = spec("Brand name.", default=None, min_length=1, max_length=256)
    in_stock: bool | None = spec(
        "Whether it can be bought now; left out, it stays as it was.", default=None
    )
    url: str | None = spec("Product page path or URL.", default=None, min_length=1, max_length=2048)
    image: str | None = spec("Image URL.", default=None, min_length=1, max_length=2048)
    # `spec` makes a `dataclasses.field` (the default is None), not a shared dict.
    attributes: dict[str, str] | None = spec(  # noqa: RUF009
        f"Free attributes by name (1 to {MAX_KEY} characters), e.g. colour or size; replaces "
        "the ones known.",
        default=None,
        max_items=MAX_ATTRIBUTES,
        max_length=128,
    )
    withdrawn: bool | None = spec(
        "True: no longer sold, never to be recommended; false: sold again.", default=None
    )

    def partition_key(self) -> str:
        """The Kafka message key: the product, so that its updates stay in order."""
        return self.product_id


# --- offers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferFeedback(Event):
    """What happened to an offer on the storefront."""

    type: str = kind("offer_feedback")
    offer_id: str = ident("The offer's stable id.")
    outcome: str = spec("What the shopper did.", choices=OFFER_OUTCOMES)
    value: float | None = spec("Revenue attributed, for accepted offers.", default=None, minimum=0)

    RULES: ClassVar[tuple[tuple[str, ...], ...]] = (("customer_id",),)


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer(Event):
    """A next-best-offer chosen by the engine, keyed by customer or device on the offers topic."""

    type: str = kind("offer")
    offer_id: str = ident("Stable id: the same decision always gets the same id.")
    action_id: str = ident("The catalogue entry offered.")
    kind: str = spec("What sort of offer.", choices=OFFER_KINDS)
    items: tuple[str, ...] = spec(
        "Products the offer shows.", default=(), max_items=50, min_length=1, max_length=256
    )
    score: float = spec("Arbitration score of the chosen action.")
    probability: float = spec("Probability with which the policy chose it.", minimum=0, maximum=1)
    reason_codes: tuple[str, ...] = spec(
        "Why it was chosen, for explanation and audit.", max_items=20, min_length=1, max_length=64
    )
    model_version: str = ident("Model or policy version that chose it.")
    decided_at: int = epoch_ms("When the decision was made.")
    expires_at: int = epoch_ms("When the storefront should stop showing it.")
    # RULES: the Event default (customer_id or anonymous_id), since offers go to anonymous
    # shoppers too.


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferWithdrawal(Event):
    """An offer the engine takes back, keyed like the offer on the offers topic: stop showing it."""

    # Addressed (customer or device, channel, session) as the offer was; `event_time` is the
    # time of what caused it (e.g. the consent revoke).
    type: str = kind("offer_withdrawal")
    offer_id: str = ident("The withdrawn offer's stable id.")
    reason: str = spec("Why it is withdrawn.", choices=WITHDRAWAL_REASONS)
    withdrawn_at: int = epoch_ms(
        "From when it counts as withdrawn: the cause's time, or the offer's own decision time "
        "when the cause is older than the offer (a late consent revoke)."
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter(Contract):
    """A message the engine could not use, with where it came from and why."""

    type: str = kind("dead_letter")
    original: str = spec(
        "The original bytes, base64; only their start when `truncated`.", max_length=16_777_216
    )
    original_bytes: int | None = spec(
        "How many bytes the original message had (absent from older dead letters).",
        default=None,
        minimum=0,
    )
    truncated: bool = spec(
        "True when `original` holds only the first bytes of the message: base64 is 4/3 the "
        "size, and the dead letter must fit the message limit itself.",
        default=False,
    )
    source_topic: str = spec("Topic or file it came from.", min_length=1, max_length=1024)
    source_partition: int | None = spec("Partition, or None for files.", default=None, minimum=0)
    source_offset: int | None = spec("Offset, or line number for files.", default=None, minimum=0)
    stage: str = spec("Where it failed, e.g. 'decode'.", min_length=1, max_length=64)
    reason: str = spec("Short reason code, e.g. 'missing_field'.", min_length=1, max_length=64)
    field: str | None = spec("The offending field, if one.", default=None, max_length=256)
    error: str = spec("Human-readable description.", max_length=MAX_TEXT)
    failed_at: int = epoch_ms("When it was dead-lettered.")


CONTRACTS: dict[str, type[Contract]] = {
    cls.__dataclass_fields__["type"].default: cls  # type: ignore[misc]
    for cls in (
        PageView,
        ProductView,
        Search,
        Dwell,
        CartAdd,
        CartRemove,
        CheckoutStart,
        Purchase,
        SocialPost,
        IdentityLink,
        Consent,
        ErasureRequest,
        OfferFeedback,
        ProductUpdate,
        Offer,
        OfferWithdrawal,
        DeadLetter,
    )
}
"""Every contract by its `type` name."""

STREAMS: dict[str, tuple[str, ...]] = {
    "clickstream": ("page_view", "product_view", "search", "dwell"),
    "cart": ("cart_add", "cart_remove", "checkout_start", "purchase"),
    "social": ("social_post",),
    "identity": ("identity_link",),
    "consent": ("consent",),
    "erasure": ("erasure_request",),
    "offer_feedback": ("offer_feedback",),
    "products": ("product_update",),
    "offers": ("offer", "offer_withdrawal"),
    "dead_letter": ("dead_letter",),
}
"""Which contracts travel on which stream (one Kafka topic per stream)."""

STREAM_OF: dict[str, str] = {kind: stream for stream, kinds in STREAMS.items() for kind in kinds}
"""The stream each contract type travels on: `STREAMS` read the other way."""

INPUT_STREAMS: tuple[str, ...] = tuple(s for s in STREAMS if s not in ("offers", "dead_letter"))
"""The streams the engine reads: everything but what it writes."""


compact.builds(Contract, OrderLine)
