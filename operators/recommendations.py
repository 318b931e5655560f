"""The shopper's recommendations: the "for you" shelf and the items of product offers.

`Recommender` joins the process's item knowledge (`models.items`: what goes together, learned
from every view, cart addition and purchase) with its product store (`operators.products`:
what is on sale, at which price, in which category). Every list it answers leaves out what
is out of stock or withdrawn, what is in the cart and what the shopper owns.

What a list may read depends on consent (`docs/recommendations.md`):

* **contextual** (no consent needed): the neighbours of the product in view, what is cheaper
  or similar in its category, and trending products. Nothing of the shopper's history.
* **personal** (personalisation consent): the session so far, the cart, past purchases and
  the shopper's price level. A shopper without consent gets the contextual shelf.

The worker threads of a process share one `Recommender`; its lock keeps a list from being
read while another thread's event is being learned.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from insession.models.items import FORGET, ItemKnowledge, Observation, Recommendation, Strategy
from insession.operators.products import Facts, ProductStore, cheaper
from insession.operators.session import CustomerState
from insession.schemas.events import CartAdd, CartRemove, Event, ProductView, Purchase

MIN_PEOPLE = 3
"""People whose recent sessions must have had a product before its contextual list is used:
its neighbours are counts over everyone's sessions, and with fewer they would mostly echo
what one or two people did. Below it the contextual shelf is trending, and the product's
contextual offers are not made."""
CACHED_LENGTH = 50
"""Items kept in a product's cached contextual list."""
CACHED_PRODUCTS = 20_000
"""(product, strategy) lists cached, the least recently used forgotten first."""
REFRESH_GROWTH = 1.0
REFRESH_EVERY = 50_000
"""A cached list is computed again once as many sessions again (and at least 5 more) had its
product, or after 50,000 events were learned anywhere (trending fills the list's tail): a
product's neighbours settle as its sessions grow, so each is computed about log2(its
sessions) times."""
TRENDING_EVERY = 1_000
"""The trending list is computed again after this many events were learned (or a tenth more
than when it was computed, early on)."""
MAX_ASKED = 200
"""The longest list asked of the knowledge when filters (category, price) drop many items."""
SHELF_EVENTS = (ProductView, CartAdd, CartRemove, Purchase)
"""Events after which the shelf is computed again."""


def product_of(event: Event | None) -> str | None:
    """The product a view or a cart change names (the contextual lists' seed)."""
    if isinstance(event, ProductView | CartAdd | CartRemove):
        return event.product_id
    return None


@dataclass(frozen=True, slots=True)
class RecsConfig:
    """How many items a shelf holds and how lists are filtered."""

    enabled: bool = True
    """Off: no shelves and no learning; strategy offers are never eligible."""
    shelf_size: int = 20
    history_items: int = 3
    """Past purchases (the most recent) that seed a consenting shopper's shelf."""
    session_items: int = 10
    """The session's latest product views that seed it (YOOCHOOSE's sessions average four
    clicks; a longer one's early views count little in the position weights anyway)."""
    price_tolerance: float = 2.0
    """A personal list keeps items whose price level (price against their category's typical
    price) is within this factor of the shopper's: a premium jacket buyer is shown premium
    scarves. Items of unknown price are kept."""
    strategy_override: Strategy | None = None
    """Answer every list from this one strategy of the knowledge, with the same filters:
    "trending" is the popularity baseline the closed loop compares learned lists with."""

    def __post_init__(self) -> None:
        if self.shelf_size < 1 or self.history_items < 0 or self.price_tolerance < 1.0:
            raise ValueError("shelf_size >= 1, history_items >= 0 and price_tolerance >= 1")


class Recommender:
    """Learns the item knowledge from shoppers' events and answers their lists.

    >>> from insession.operators.session import SessionConfig, apply_event
    >>> from insession.schemas.events import ProductView
    >>> recommender = Recommender(ProductStore())
    >>> def view(state, product, second):
    ...     event = ProductView(event_id=f"{state.person}-{second}", channel="web",
    ...         event_time=1_764_000_000_000 + 1_000 * second, customer_id=state.person,
    ...         product_id=product, price=50.0, category="tents")
    ...     apply_event(state, event, SessionConfig())
    ...     recommender.products.learn_event(event)
    ...     return recommender.observe(state, event)
    >>> for n, trip in enumerate([["tent", "mat", "stove"], ["tent", "mat"], ["lamp"]]):
    ...     other = CustomerState(person=f"c-{n + 2}")
    ...     _ = [view(other, product, second) for second, product in enumerate(trip)]
    >>> state = CustomerState(person="c-1", consent=True)
    >>> _ = view(state, "tent", 10)
    >>> for r in recommender.shelf(state, "tent", consented=True):
    ...     print(r.item, r.strategy, r.seed)
    mat viewed_together tent
    stove viewed_together tent
    lamp trending None
    """

    def __init__(
        self,
        products: ProductStore,
        knowledge: ItemKnowledge | None = None,
        config: RecsConfig | None = None,
    ) -> None:
        self.products = products
        self.knowledge = knowledge if knowledge is not None else ItemKnowledge()
        self.config = config or RecsConfig()
        self._width = math.log(self.config.price_tolerance)
        """How far a personal list's items' price level may be from the shopper's."""
        self.lock = threading.Lock()
        self.shares = False
        """Whether other processes learn what this one observes (`observe` then returns the
        observations, for `insession.connectors.item_log`)."""
        self._replayed: set[str] = set()
        """Event ids the knowledge already learned before a restart (`skip_replayed`)."""
        self._lists: OrderedDict[tuple[str, str], tuple[int, int, list[Recommendation], int]]
        self._lists = OrderedDict()
        """(product, strategy) -> (sessions with it, events learned, list, erasures) when
        computed: an erasure makes every cached list stale."""
        self.erasures = 0
        """Erasures so far: a list computed before one may hold what the person taught."""
        self._shared: set[str] = set()
        """Products known to have been had by `MIN_PEOPLE` people (`_has_neighbours`)."""
        self._personal_lists: OrderedDict[str, tuple[list[str], int, list[Recommendation]]]
        self._personal_lists = OrderedDict()
        """session token -> (seeds, product changes, the knowledge's list) when computed."""
        self._filtered: OrderedDict[tuple[str, str], _Filtered] = OrderedDict()
        """(product, strategy) -> (its list, product changes, what of it is on sale)."""
        self.learned = 0
        """Observations learned (here and shared), for the cache's refresh."""

    # --- learning -----------------------------------------------------------------------

    def observe(self, state: CustomerState, event: Event) -> tuple[Observation, ...]:
        """Learn what the event shows (a view, a cart addition, the lines of a purchase) in
        the shopper's current session; the observations made, when other processes share
        them (`shares`)."""
        if not self.config.enabled or state.session is None:
            return ()
        if isinstance(event, ProductView):
            seen = [(event.product_id, "view")]
        elif isinstance(event, CartAdd):
            seen = [(event.product_id, "cart")]
        elif isinstance(event, Purchase):
            seen = [(line.product_id, "purchase") for line in event.lines]
        else:
            return ()
        if self._replayed and event.event_id in self._replayed:
            self._replayed.discard(event.event_id)
            return ()
        session = session_token(state)
        at = event.event_time
        if not self.shares:
            with self.lock:
                for item, kind in seen:
                    self.knowledge.observe(session, item, at, kind)  # type: ignore[arg-type]
                self.learned += len(seen)
            return ()
        made = tuple(Observation(session, item, at, kind, event.event_id) for item, kind in seen)
        with self.lock:
            self.knowledge.learn(made)
            self.learned += len(made)
        return made

    def forget(self, state: CustomerState, *, erasure: bool = True) -> tuple[Observation, ...]:
        """Take back every session of the person the knowledge may still hold: an erasure
        (every cached list goes stale too), or a device whose history now belongs to a
        customer (`erasure` False: the same person's, learned again as the customer's)."""
        tokens = session_tokens(state)
        if not tokens:
            return ()
        made = tuple(Observation(token, "", 0, FORGET) for token in tokens)
        with self.lock:
            self.knowledge.learn(made)
            for token in tokens:
                self._personal_lists.pop(token, None)
            if erasure:
                self.erasures += 1
                self._shared.clear()
        return made

    def drop_cached(self, state: CustomerState) -> None:
        """The person leaves memory: their sessions' cached lists would never be read again."""
        with self.lock:
            for token in session_tokens(state):
                self._personal_lists.pop(token, None)

    def learn_shared(self, observations: Sequence[Observation]) -> None:
        """What other processes learned (`insession.connectors.item_log`)."""
        with self.lock:
            self.knowledge.learn(observations)
            self.learned += len(observations)

    def skip_replayed(self, event_ids: Iterable[str]) -> None:
        """These events were learned before a restart: when the flow replays them, skip."""
        self._replayed.update(event_ids)

    # --- answering ----------------------------------------------------------------------

    def shelf(
        self, state: CustomerState, product: str | None, *, consented: bool
    ) -> tuple[Recommendation, ...]:
        """The shopper's "for you" shelf: from the session so far and past purchases with
        consent, else from `product` (the one in view; None: what is trending)."""
        if not self.config.enabled:
            return ()
        if consented:
            return self._personal(state, self.config.shelf_size)
        return self._contextual(state, product, self.config.shelf_size)

    def for_offer(
        self, strategy: str, state: CustomerState, event: Event, n: int
    ) -> tuple[Recommendation, ...]:
        """The items a catalogue offer with this `strategy` shows now (empty: none fit)."""
        if not self.config.enabled:
            return ()
        if strategy == "for_you":
            return self._personal(state, n)
        if strategy == "trending":
            return self._answer([], n, state, "trending", contextual=True)
        if strategy in ("bought_together", "cart"):
            if strategy == "cart":
                seeds = list(state.session.cart) if state.session is not None else []
            elif isinstance(event, Purchase):
                seeds = [line.product_id for line in event.lines]
            else:
                seeds = self._history(state)
            if not seeds:
                return ()
            return self._answer(seeds, n, state, "bought_together", band=self._level(state))
        seed = product_of(event)
        if seed is None or not self._has_neighbours(seed):
            return ()
        if strategy == "viewed_together":
            return self._answer([seed], n, state, "blended", cached=True, contextual=True)
        (facts,) = self.products.facts([seed])
        if facts is None or facts.category is None:
            return ()
        cheaper = facts if strategy == "cheaper" else None
        return self._answer(
            [seed],
            n,
            state,
            "blended",
            category=facts.category,
            cheaper_than=cheaper,
            cached=True,
            contextual=True,
        )

    def _personal(self, state: CustomerState, n: int) -> tuple[Recommendation, ...]:
        """From the session's latest views and the latest purchases. The knowledge's list is
        kept per person while those seeds stay the same (a cart change, a checkout: only
        what is left out changes)."""
        session = state.session
        recent = list(session.recent_products)[-self.config.session_items :] if session else []
        seeds = self._history(state) + recent
        if not seeds:
            return self._answer([], n, state, "trending")
        token = session_token(state)
        held = self._held(state, [recent[-1] if recent else seeds[-1]])
        with self.lock:
            cached = self._personal_lists.get(token)
            if cached is not None and cached[0] == seeds and cached[1] == self.products.changes:
                self._personal_lists.move_to_end(token)
                listed = cached[2]
            else:
                listed = self.knowledge.recommend(
                    seeds, CACHED_LENGTH, exclude=held, strategy=self._strategy("blended"),
                    session_id=token,
                )  # fmt: skip
                self._personal_lists[token] = (seeds, self.products.changes, listed)
                if len(self._personal_lists) > CACHED_PRODUCTS:
                    self._personal_lists.popitem(last=False)
        band = self._level(state)
        kept = self._kept([r for r in listed if r.item not in held], n, None, None, band)
        if len(kept) == n or len(listed) < CACHED_LENGTH:
            return tuple(kept)
        return self._answer(seeds, n, state, "blended", band=band, session_id=token, exclude=held)

    def _strategy(self, strategy: Strategy) -> Strategy:
        return self.config.strategy_override or strategy

    def _held(
        self, state: CustomerState, extra: Iterable[str] = (), contextual: bool = False
    ) -> set[str]:
        """What no list shows the person: what they own, what is in their cart, `extra`;
        and, `contextual`, what they viewed in this session (the product's neighbours are
        everyone's sessions, theirs included: nothing of it comes back to them)."""
        held = set(state.owned)
        held.update(extra)
        session = state.session
        if session is not None:
            held.update(session.cart)
            if contextual:
                held.update(session.product_views)
        return held

    def still_fitting(
        self, state: CustomerState, listed: Sequence[Recommendation], extra: Iterable[str] = ()
    ) -> tuple[Recommendation, ...]:
        """Of a list made earlier, what the person does not hold now (nor `extra`) and is
        still on sale."""
        held = self._held(state, extra)
        unheld = [r for r in listed if r.item not in held]
        facts = self.products.facts((r.item for r in unheld), levels=False)
        return tuple(r for r, f in zip(unheld, facts, strict=True) if f is not None and f.on_sale)

    def _contextual(
        self, state: CustomerState, product: str | None, n: int
    ) -> tuple[Recommendation, ...]:
        if product is None or not self._has_neighbours(product):
            return self._answer([], n, state, "trending", contextual=True, exclude=[product or ""])
        return self._answer([product], n, state, "blended", cached=True, contextual=True)

    def _has_neighbours(self, product: str) -> bool:
        """Whether enough people had the product in their sessions (`MIN_PEOPLE`, told apart
        by their sessions' keys) for its list to be everyone's, not an echo of one."""
        if product in self._shared:
            return True
        with self.lock:
            people: set[str] = set()
            for session in self.knowledge.recent_sessions(product):
                people.add(str(session).partition(":")[0])
                if len(people) >= MIN_PEOPLE:
                    # It stays so until an erasure (which empties this) or its eviction.
                    self._shared.add(product)
                    if len(self._shared) > CACHED_PRODUCTS * 5:
                        self._shared.clear()
                    return True
            return False

    def _history(self, state: CustomerState) -> list[str]:
        keep = self.config.history_items
        return list(state.owned)[-keep:] if keep else []

    def _level(self, state: CustomerState) -> float | None:
        """The shopper's price level: the mean `Facts.level` of what they viewed this session
        and bought before (None: no price known)."""
        session = state.session
        recent = list(session.recent_products)[-self.config.session_items :] if session else []
        products = self._history(state) + recent
        levels = [f.level for f in self.products.facts(products) if f and f.level is not None]
        return sum(levels) / len(levels) if levels else None

    def _answer(
        self,
        seeds: list[str],
        n: int,
        state: CustomerState,
        strategy: Strategy,
        *,
        band: float | None = None,
        category: str | None = None,
        cheaper_than: Facts | None = None,
        session_id: str | None = None,
        exclude: Iterable[str] = (),
        cached: bool = False,
        contextual: bool = False,
        ask: int | None = None,
    ) -> tuple[Recommendation, ...]:
        """The knowledge's list, then only what is on sale, not held (cart, owned, `exclude`)
        and passes the filters. `cached`: the list of one seed (the product in view, which
        it leaves out), kept per product until it may have changed (`_raw_list`).
        `contextual`: for someone whose history may not be used, nor shown back to them:
        what they viewed in this session is left out too."""
        held = self._held(state, [*exclude, *seeds] if contextual else exclude, contextual)
        strategy = self._strategy(strategy)
        filtered = category is not None or cheaper_than is not None or band is not None
        if strategy == "trending":
            # Popular now: one list for everyone, computed again every `TRENDING_EVERY`
            # events learned (`held` may fill it up: asked again at full length below).
            if not filtered:
                listed = [r for r in self._trending_on_sale() if r.item not in held]
                kept = listed[:n]
            else:
                listed = [
                    r
                    for r in self._trending_list()
                    if r.item not in held and self._has_neighbours(r.item)
                ]
                kept = self._kept(listed, n, category, cheaper_than, band)
            if len(kept) == n or len(listed) + len(held) < CACHED_LENGTH:
                return tuple(kept)
            seeds = []
        elif cached:
            raw, complete = self._raw_list(seeds[0], strategy)
            if not filtered:
                kept = [r for r in self._on_sale(seeds[0], strategy, raw) if r.item not in held]
                kept = kept[:n]
            else:  # the seed's and the items' prices and categories as they are now
                unheld = [r for r in raw if r.item not in held and self._has_neighbours(r.item)]
                kept = self._kept(unheld, n, category, cheaper_than, band)
            if len(kept) == n or complete:
                return tuple(kept)
            held.add(seeds[0])
            ask = MAX_ASKED  # the cached list was not enough
        # A little room for what the filters drop; asked again, longer, if too little.
        wanted = ask or n + 5
        while True:
            with self.lock:
                found = self.knowledge.recommend(
                    seeds, wanted, exclude=held, strategy=strategy, session_id=session_id
                )
            kept = self._kept(found, n, category, cheaper_than, band)
            if len(kept) >= n or len(found) < wanted or wanted >= MAX_ASKED:
                return tuple(kept[:n])
            wanted = min(4 * wanted, MAX_ASKED)

    def _kept(
        self,
        found: list[Recommendation],
        n: int,
        category: str | None,
        cheaper_than: Facts | None,
        band: float | None,
    ) -> list[Recommendation]:
        """The first `n` of `found` that pass the filters (products looked up a few at a
        time: most lists need only their first few checked)."""
        kept: list[Recommendation] = []
        step = n + 5
        for start in range(0, len(found), step):
            chunk = found[start : start + step]
            facts = self.products.facts((r.item for r in chunk), levels=band is not None)
            for rec, fact in zip(chunk, facts, strict=True):
                if _passes(fact, category, cheaper_than, band, self._width):
                    kept.append(rec)
                    if len(kept) == n:
                        return kept
        return kept

    def _on_sale(
        self, product: str, strategy: Strategy, raw: list[Recommendation]
    ) -> list[Recommendation]:
        """A product's list (`_raw_list`) less what is not on sale and what fewer than
        `MIN_PEOPLE` people had (it would show one or two people's own history back to
        them), kept until the list is computed again or a product goes on or off sale."""
        key = (product, strategy)
        changes = self.products.changes
        with self.lock:
            cached = self._filtered.get(key)
            if cached is not None and cached[0] is raw and cached[1] == changes:
                self._filtered.move_to_end(key)
                return cached[2]
        shared = [r for r in raw if self._has_neighbours(r.item)]
        listed = self._kept(shared, CACHED_LENGTH, None, None, None)
        with self.lock:
            self._filtered[key] = (raw, changes, listed)
            if len(self._filtered) > CACHED_PRODUCTS:
                self._filtered.popitem(last=False)
        return listed

    def _trending_on_sale(self) -> list[Recommendation]:
        """`_trending_list` less what is not on sale, kept while neither changes."""
        return self._on_sale("", "trending", self._trending_list())

    def _trending_list(self) -> list[Recommendation]:
        with self.lock:
            cached = self._lists.get(("", "trending"))
            if cached is not None and cached[3] == self.erasures:
                since = self.learned - cached[1]
                if since < min(TRENDING_EVERY, 1 + cached[1] // 10):
                    return cached[2]
            listed = self.knowledge.recommend([], CACHED_LENGTH, strategy="trending")
            self._lists[("", "trending")] = (0, self.learned, listed, self.erasures)
            return listed

    def _raw_list(self, product: str, strategy: Strategy) -> tuple[list[Recommendation], bool]:
        """The knowledge's `CACHED_LENGTH` best for one product, and whether that is all,
        computed again once `REFRESH_GROWTH` more sessions have had the product or
        `REFRESH_EVERY` events were learned since: what others did around a product changes
        slowly, and contextual lists (no consent, the product in view) are asked for again
        and again."""
        with self.lock:
            seen = self.knowledge.sessions_with(product)
            key = (product, strategy)
            cached = self._lists.get(key)
            if cached is not None and cached[3] == self.erasures:
                at_seen, at_learned, listed, _ = cached
                fresh = seen < at_seen + max(5.0, REFRESH_GROWTH * at_seen)
                if fresh and self.learned - at_learned < REFRESH_EVERY:
                    self._lists.move_to_end(key)
                    return listed, len(listed) < CACHED_LENGTH
            listed = self.knowledge.recommend(
                [product], CACHED_LENGTH, exclude=[product], strategy=strategy
            )
            self._lists[key] = (seen, self.learned, listed, self.erasures)
            if len(self._lists) > CACHED_PRODUCTS:
                self._lists.popitem(last=False)
            return listed, len(listed) < CACHED_LENGTH


_Filtered = tuple[list[Recommendation], int, list[Recommendation]]


def _passes(
    facts: Facts | None,
    category: str | None,
    cheaper_than: Facts | None,
    band: float | None,
    width: float,
) -> bool:
    """On sale, in the category, cheaper, and at the shopper's price level, as asked."""
    if facts is None or not facts.on_sale:
        return False
    if category is not None and facts.category != category:
        return False
    if cheaper_than is not None and not cheaper(facts, cheaper_than):
        return False
    return band is None or facts.level is None or abs(facts.level - band) <= width


def session_token(state: CustomerState) -> str:
    """The opaque id the knowledge knows the person's current session by: a random key
    drawn for the person, and the session number. Erasing the person's state erases the key,
    so nothing left in the knowledge (or the shared log) can be tied to them again."""
    if not state.item_key:
        state.item_key = secrets.token_hex(8)
    number = state.session.number if state.session is not None else 0
    return f"{state.item_key}:{number}"


def session_tokens(state: CustomerState) -> list[str]:
    """The tokens of every session the person has had (none before a key was drawn)."""
    if not state.item_key:
        return []
    return [f"{state.item_key}:{number}" for number in range(1, state.sessions + 1)]
