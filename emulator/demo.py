"""Deterministic demo data and bulk namespaces, plus the prod-firehose writer.

Everything is drawn from ``random.Random(f"{seed}:{name}")``, so a seed fixes every
document and timestamp (except prod-firehose's live writes). Demo namespaces are
dated in the past, so they start ``up-to-date``. Bulk namespaces are built column by
column from small pools of shared values, so a million documents take a few seconds
and a few hundred MB.
"""

from __future__ import annotations

import logging
import random
import threading
import zlib
from typing import Any

from emulator.state import EmulatorError, Namespace, State, doc_bytes, infer_type

log = logging.getLogger(__name__)

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000

CATEGORIES = [
    "books", "electronics", "garden", "toys", "kitchen", "sports",
    "beauty", "automotive", "music", "office", "pets", "grocery",
]  # fmt: skip
_BRAND_HEADS = ["Acme", "Nova", "Zen", "Blue", "Red", "Iron", "Pixel", "Terra",
                "Lumen", "Vertex", "Polar", "Sage", "Echo", "Atlas", "Orbit"]  # fmt: skip
_BRAND_TAILS = ["Labs", "Works", "Co", "Goods", "Supply", "House", "Gear", "Craft", "Point", "Line"]
BRANDS = [f"{h}{t}" for h in _BRAND_HEADS for t in _BRAND_TAILS]  # 150
POPULAR_TAGS = [
    "sale", "new", "bestseller", "eco", "gift", "premium", "limited", "bundle", "clearance",
    "handmade", "imported", "organic", "refurbished", "exclusive", "seasonal", "vintage",
]  # fmt: skip
_TAG_WORDS = [
    "red",
    "blue",
    "green",
    "small",
    "large",
    "soft",
    "smart",
    "classic",
    "travel",
    "home",
]
LONG_TAIL_TAGS = 30_000
STATUSES = ["active", "pending", "archived", "failed"]
SMALL_CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
LABELS = [f"label-{i}" for i in range(20)]

# (name, documents); prod-firehose also receives live writes
OTHER_NAMESPACES: list[tuple[str, int]] = [
    ("prod-orders", 3000), ("prod-users", 2500), ("prod-catalog", 1800), ("prod-reviews", 1200),
    ("prod-events", 4000), ("prod-sessions", 900), ("prod-inventory", 600),
    ("prod-search-logs", 2000), ("prod-payments", 350), ("prod-invoices", 150),
    ("prod-firehose", 200),
    ("staging-orders", 300), ("staging-users", 250), ("staging-catalog", 180),
    ("staging-reviews", 120), ("staging-events", 400), ("staging-sessions", 90),
    ("staging-inventory", 60), ("staging-payments", 35), ("staging-tmp", 5),
    ("dev-alice", 3), ("dev-bob", 12), ("dev-carol", 45), ("dev-scratch", 7), ("dev-test-1", 1),
    ("dev-test-2", 20), ("dev-orders", 30), ("dev-users", 25), ("dev-catalog", 18),
    ("dev-events", 40), ("dev-empty", 0), ("dev-large", 5000),
]  # fmt: skip


def _tag(i: int) -> str:
    return f"{_TAG_WORDS[i % len(_TAG_WORDS)]}-{i}"


def _schema(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The schema inferred from ``docs`` (int ids), first non-null value of each attribute."""
    schema: dict[str, dict[str, Any]] = {"id": {"type": "uint"}}
    for d in docs:
        for k, v in d.items():
            if k != "id" and k not in schema and (entry := infer_type(k, v)) is not None:
                schema[k] = entry
    return schema


def _finish(ns: Namespace, docs: list[dict[str, Any]], nbytes: int | None = None) -> Namespace:
    """Install already id-sorted docs into ``ns`` and infer its schema."""
    ns.docs = {d["id"]: d for d in docs}
    ns.ids = [d["id"] for d in docs]
    ns.id_kind = int
    ns.schema = _schema(docs[:200])
    ns.logical_bytes = nbytes if nbytes is not None else sum(doc_bytes(d) for d in docs)
    ns.last_write_ms = max((d["_layer_written_ms"] for d in docs), default=ns.created_ms)
    return ns


def make_products(seed: int, name: str = "products", count: int = 12_500) -> Namespace:
    rng = random.Random(f"{seed}:{name}")
    docs = []
    for i in range(1, count + 1):
        tags = [rng.choice(POPULAR_TAGS)]
        tags += [_tag(rng.randrange(LONG_TAIL_TAGS)) for _ in range(rng.randint(1, 3))]
        docs.append(
            {
                "id": i,
                "category": rng.choice(CATEGORIES),
                "brand": rng.choice(BRANDS),
                "tags": tags,
                "price": round(rng.uniform(1.0, 500.0), 2),
                "in_stock": rng.random() < 0.8,
                "_layer_written_ms": BASE_MS + i * 60_000 + rng.randrange(60_000),
            }
        )
    return _finish(Namespace(name=name, created_ms=BASE_MS - 30 * DAY_MS), docs)


def make_small(seed: int, name: str, count: int) -> Namespace:
    rng = random.Random(f"{seed}:{name}")
    created = BASE_MS - rng.randrange(1, 60) * DAY_MS
    docs = []
    for i in range(1, count + 1):
        doc: dict[str, Any] = {
            "id": i,
            "status": rng.choice(STATUSES),
            "category": rng.choice(SMALL_CATEGORIES),
            "priority": rng.randint(1, 5),
            "score": round(rng.random() * 100, 3),
            "labels": rng.sample(LABELS, rng.randint(0, 3)),
            "_layer_written_ms": created + i * 1000 + rng.randrange(1000),
        }
        if rng.random() < 0.1:
            del doc["category"]  # some documents lack an attribute
        docs.append(doc)
    return _finish(Namespace(name=name, created_ms=created), docs)


def make_bulk(seed: int, name: str, count: int) -> Namespace:
    """``count`` products-like documents plus ``sku`` (about count/4 distinct values)."""
    rng = random.Random(f"{seed}:{name}")
    tag_pool = []
    for _ in range(4096):
        tags = [rng.choice(POPULAR_TAGS)]
        tags += [_tag(rng.randrange(LONG_TAIL_TAGS)) for _ in range(rng.randint(1, 3))]
        tag_pool.append(tuple(tags))
    price_pool = [round(rng.uniform(1.0, 500.0), 2) for _ in range(10_000)]
    skus = [f"SKU-{i:08d}" for i in range(max(1, count // 4))]
    cats = rng.choices(CATEGORIES, k=count)
    brands = rng.choices(BRANDS, k=count)
    tags_col = rng.choices(tag_pool, k=count)
    prices = rng.choices(price_pool, k=count)
    stock = rng.choices((True, False), weights=(8, 2), k=count)
    sku_col = rng.choices(skus, k=count)
    docs = [
        {
            "id": i,
            "category": c,
            "brand": b,
            "tags": t,
            "price": p,
            "in_stock": s,
            "sku": k,
            "_layer_written_ms": BASE_MS + i,
        }
        for i, c, b, t, p, s, k in zip(
            range(1, count + 1), cats, brands, tags_col, prices, stock, sku_col, strict=True
        )
    ]
    sample = docs[:: max(1, count // 1000)]
    nbytes = sum(doc_bytes(d) for d in sample) * count // max(1, len(sample))
    return _finish(Namespace(name=name, created_ms=BASE_MS - DAY_MS), docs, nbytes)


def load_demo(state: State, seed: int = 0) -> list[tuple[str, int]]:
    """Install products and the prod-/staging-/dev- namespaces; returns (name, count) pairs."""
    made = [make_products(seed)]
    made += [make_small(seed, name, count) for name, count in OTHER_NAMESPACES]
    for ns in made:
        state.add_namespace(ns)
    return [(ns.name, len(ns.docs)) for ns in made]


def load_bulk(state: State, bulk: dict[str, int], seed: int = 0) -> list[tuple[str, int]]:
    out = []
    for name, count in bulk.items():
        state.add_namespace(make_bulk(seed, name, count))
        out.append((name, count))
    return out


class SmallFamily:
    """``PREFIX00000``… ``PREFIX{count-1}``: idle namespaces of 1-5 documents each, built on demand.

    Namespace ``i`` holds ``1 + i % 5`` documents cut from one of a pool of templates and
    dated from a CRC of its name, so building it costs a few microseconds and always
    gives the same documents: the metadata of an idle name and its first write agree.
    """

    POOL = 1024

    def __init__(self, prefix: str, count: int, seed: int = 0) -> None:
        self.prefix = prefix
        self.count = count
        self.seed = seed
        rng = random.Random(f"{seed}:{prefix}:pool")
        # per template: 5 (doc, written offset) pairs, and for each length 1..5 the
        # logical bytes and the schema of that many documents
        self._pool: list[list[tuple[dict[str, Any], int]]] = []
        self._sizes: list[list[tuple[int, dict[str, dict[str, Any]]]]] = []
        for _ in range(self.POOL):
            docs = []
            for j in range(5):
                doc: dict[str, Any] = {
                    "status": rng.choice(STATUSES),
                    "category": rng.choice(SMALL_CATEGORIES),
                    "priority": rng.randint(1, 5),
                    "score": round(rng.random() * 100, 3),
                    "labels": rng.sample(LABELS, rng.randint(0, 3)),
                }
                if rng.random() < 0.1:
                    del doc["category"]  # some documents lack an attribute
                docs.append((doc, (j + 1) * 1000 + rng.randrange(1000)))
            self._pool.append(docs)
            sizes = []
            for n in range(1, 6):
                full = [{"id": 1, **d, "_layer_written_ms": 0} for d, _ in docs[:n]]
                sizes.append((sum(doc_bytes(d) for d in full), _schema(full)))
            self._sizes.append(sizes)

    def name(self, i: int) -> str:
        return f"{self.prefix}{i:05d}"

    def index(self, name: str) -> int | None:
        suffix = name[len(self.prefix) :]
        if not suffix.isdigit() or not suffix.isascii():
            return None
        i = int(suffix)
        return i if i < self.count and self.name(i) == name else None

    def build(self, name: str, i: int, now_ms: int) -> Namespace:
        h = zlib.crc32(f"{self.seed}:{name}".encode())
        created = BASE_MS - (1 + (h >> 10) % 59) * DAY_MS
        n = 1 + i % 5
        template = self._pool[h % self.POOL][:n]
        nbytes, schema = self._sizes[h % self.POOL][n - 1]
        ns = Namespace(name=name, created_ms=created)
        ns.docs = {
            j + 1: {
                "id": j + 1,
                **doc,
                "labels": list(doc["labels"]),
                "_layer_written_ms": created + off,
            }
            for j, (doc, off) in enumerate(template)
        }
        ns.ids = list(range(1, n + 1))
        ns.id_kind = int
        ns.schema = dict(schema)
        ns.logical_bytes = nbytes
        ns.last_write_ms = created + template[-1][1]
        return ns


def load_many(state: State, many: dict[str, int], seed: int = 0) -> list[tuple[str, int]]:
    """``PREFIX=COUNT``: COUNT idle namespaces ``PREFIX00000``… of 1-5 documents each.

    Returns (prefix, total documents) pairs. The names are registered, not built.
    """
    out = []
    for prefix, count in many.items():
        state.add_family(SmallFamily(prefix, count, seed))
        full, rest = divmod(count, 5)
        out.append((prefix, 15 * full + rest * (rest + 1) // 2))
    return out


class Firehose:
    """Upserts a few documents into prod-firehose every ``interval`` s, via ``State.write``."""

    def __init__(self, state: State, name: str = "prod-firehose", interval: float = 1.0) -> None:
        self.state = state
        self.name = name
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-firehose", daemon=True)
        self._rng = random.Random()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        next_id = 1_000_000
        while not self._stop.wait(self.interval):
            rng = self._rng
            rows = []
            for _ in range(rng.randint(1, 3)):
                next_id += 1
                rows.append(
                    {
                        "id": next_id,
                        "status": rng.choice(STATUSES),
                        "category": rng.choice(SMALL_CATEGORIES),
                        "priority": rng.randint(1, 5),
                        "score": round(rng.random() * 100, 3),
                        "labels": rng.sample(LABELS, rng.randint(0, 3)),
                        "_layer_written_ms": self.state.clock(),
                    }
                )
            try:
                self.state.write(self.name, {"upsert_rows": rows})
            except EmulatorError:
                log.exception("firehose write to %s failed", self.name)
