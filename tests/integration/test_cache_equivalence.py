"""The cache's histogram equals the origin's, for random documents and random filters.

At the engine level against the emulator: each example writes random documents to a
fresh namespace, warms the cache, and compares ``DocumentCache.count`` with
``count_origin(strategy="scan")`` for random filters from the cache's operator set
(In/NotIn on the array attribute and with bare scalars, the Glob family on strings and
arrays of strings, comparisons with null). Arrays repeat elements; both equal the
upstream's own counting (``aggregate_by`` + ``group_by``, ``ForEachUnique`` for the
array), and each array bucket is the number of documents ``Contains`` matches.
The emulator answers with ``common.filters`` and so does the cache, so a difference
would be in the cache's storage, its generations, its in-memory equality indexes, or
(on Aerospike, when ``LAYER_TEST_AEROSPIKE`` is set) the server-side pushdown. Both
counting paths run: decoded generations held in memory, and streaming from the KV.
"""

from __future__ import annotations

import faulthandler
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.cache import DocumentCache
from backend.freshness import FreshnessStore
from backend.snapshots.jobs import JobRunner, JobStore
from backend.snapshots.origin import ServerCounting, count_origin
from backend.stores.kv_base import KVStore
from backend.upstream import Upstream
from common.filters import and_filters, compile_filter
from tests.fixtures.backend import make_settings
from tests.fixtures.kv import KV_BACKENDS, open_test_kv
from tests.integration.helpers import write_docs

FIELDS = ["color", "n", "tags", "flag"]
_names = itertools.count()

colors = st.sampled_from(["red", "blue", "green", "Red", "é"])
small_ints = st.integers(-3, 3)
halves = st.integers(-6, 6).map(lambda i: i / 2)
tag_lists = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3)
repeating_tags = st.one_of(tag_lists, tag_lists.map(lambda t: t + t), tag_lists.map(sorted))
doc_attrs = st.fixed_dictionaries(
    {},
    optional={
        "color": st.one_of(st.none(), colors),
        "n": st.one_of(st.none(), small_ints),
        "x": halves,
        "flag": st.booleans(),
        "tags": repeating_tags,
        "a_long_attribute_name": colors,
    },
)


# Each attribute's filter values have its type: the real service (and the emulator)
# answers 400 "type mismatch" to, say, ["color", "Lt", 3].
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "color": colors,
    "a_long_attribute_name": colors,
    "n": small_ints,
    "x": halves | small_ints,
    "flag": st.booleans(),
    "tags": st.sampled_from(["a", "b", "c", "d"]) | colors,
    "id": st.integers(0, 30),
}


def _leaf(attr: str) -> st.SearchStrategy[tuple[Any, ...]]:
    v = VALUES[attr]
    nullable = st.one_of(st.none(), v)
    options = [
        st.tuples(st.just(attr), st.sampled_from(["Eq", "NotEq"]), nullable),
        # Comparisons with null are allowed (nulls first: Lt/Lte null = Eq null).
        st.tuples(st.just(attr), st.sampled_from(["Lt", "Lte", "Gt", "Gte"]), nullable),
        # A list, or a bare scalar (In [scalar]); on the array attribute, In/NotIn mean
        # "any element in the list" (TURBOPUFFER.md).
        st.tuples(
            st.just(attr),
            st.sampled_from(["In", "NotIn"]),
            st.one_of(nullable, st.lists(v, max_size=3)),
        ),
    ]
    if attr in ("color", "a_long_attribute_name", "tags"):
        options.append(
            st.tuples(
                st.just(attr),
                st.sampled_from(["Glob", "NotGlob", "IGlob", "NotIGlob"]),
                st.sampled_from(["r*", "{red,blue}", "[!r]*", "?", "R*", "[a-b]", "*e*"]),
            )
        )
    return st.one_of(*options)


def leaves() -> st.SearchStrategy[list[Any]]:
    attr = st.sampled_from(list(VALUES))
    return st.one_of(
        attr.flatmap(_leaf),
        st.tuples(st.just("tags"), st.just("Contains"), st.sampled_from(["a", "b", "z"])),
        st.tuples(
            st.just("tags"),
            st.just("ContainsAny"),
            st.lists(colors | tag_lists.map(lambda t: t[0] if t else "a"), max_size=2),
        ),
    ).map(list)


filters = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["And", "Or"]), st.lists(inner, min_size=1, max_size=3)).map(
            list
        ),
        st.tuples(st.just("Not"), inner).map(list),
    ),
    max_leaves=5,
)


@pytest.fixture(params=["memory", "stream"])
def held(request: pytest.FixtureRequest) -> bool:
    """Count from decoded generations in memory (with indexes), or stream from the KV."""
    return bool(request.param == "memory")


@pytest.fixture(params=KV_BACKENDS)
def engine(
    request: pytest.FixtureRequest, emulator: Any, tmp_path: Path, held: bool
) -> Iterator[Any]:
    kv: KVStore = open_test_kv(request.param, tmp_path)
    cfg = make_settings(emulator.url, tmp_path, watch_page_size=7)  # several warm pages
    upstream = Upstream(cfg)
    jobs = JobStore(kv, 3600)
    runner = JobRunner(jobs, 2)
    cache = DocumentCache(cfg, upstream, FreshnessStore(kv), kv, jobs, runner)
    if not held:
        cache.memory.budget = 0
    yield emulator, upstream, jobs, cache
    runner.shutdown(5)
    kv.close()


def _warm(jobs: JobStore, cache: DocumentCache, ns: str) -> None:
    job, _ = cache.warm(ns)
    # A job record racing its heartbeat once read "running" forever here (fixed in
    # RunningJob.update); if a warm ever hangs again, the thread stacks say where.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = jobs.get(ns, job["id"])
        if done["status"] != "running":
            assert done["status"] == "completed", done.get("error")
            return
        time.sleep(0.01)
    faulthandler.dump_traceback(all_threads=True)
    raise TimeoutError(f"warm did not finish: {jobs.get(ns, job['id'])}")


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    docs=st.lists(doc_attrs, min_size=1, max_size=25),
    fs=st.lists(filters, min_size=1, max_size=4),
)
def test_cache_histogram_equals_origin(
    engine: Any, docs: list[dict[str, Any]], fs: list[Any]
) -> None:
    emulator, upstream, jobs, cache = engine
    ns = f"eq{next(_names)}"
    rows = [{"id": i + 1, **d} for i, d in enumerate(docs)]
    write_docs(emulator.url, ns, rows)
    _warm(jobs, cache, ns)
    schema = upstream.metadata(ns)["schema"]
    for f in fs:
        for field in FIELDS:
            got, _, _ = cache.count(ns, [field], f, lambda n: None)
            want, _ = count_origin(
                upstream,
                ns,
                [field],
                filters=f,
                page_size=1000,
                schema={},
                strategy="scan",
                progress=lambda n: None,
            )
            assert got[0].result(10_000) == want[0].result(10_000), (f, field)
            server = ServerCounting()
            fast, _ = count_origin(
                upstream,
                ns,
                [field],
                filters=f,
                page_size=1000,
                schema=schema,
                strategy="auto",
                progress=lambda n: None,
                server=server,
            )
            assert fast[0].result(10_000) == want[0].result(10_000), (f, field, "server")
            assert server.fallbacks == 0
            if field != "tags":
                continue
            buckets = got[0].result(10_000)["values"]
            for bucket in buckets:
                match = compile_filter(and_filters(f, ["tags", "Contains", bucket["v"]]))
                assert bucket["n"] == sum(1 for r in rows if match(r)), (f, bucket)
            seen = {t for r in rows if compile_filter(f)(r) for t in r.get("tags") or []}
            assert len(buckets) == len(seen), (f, buckets)
