"""Scenario 5: bad input, fuzzed with hypothesis.

Targets: ``sergeant.config.Connector`` + ``sergeant.connect`` with local, redis
and mongo params; the connector API (names, payloads, priorities, due times,
counts, leases, receipts, keys, locks and TTLs) on local and on a real
redis-server; the worker's config objects and the encoder.

Verdict: every bad case raises a :class:`sergeant.errors.SergeantError` whose
message names the field, never another exception type and never a hang; good
cases round-trip byte for byte (a 16 MiB payload once per backend). Findings
are collected over all examples (see :mod:`fuzz_harness`) and listed when the
test fails, each with the shortest example that showed it. CI runs a fixed
(derandomized) set of examples; ``SERGEANT_TEST_SOAK=1`` runs many more, at random.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sergeant
from fuzz_api import run_call
from fuzz_config import config_cases, run_config_case
from fuzz_harness import Tally
from fuzz_values import (
    Params,
    api_calls,
    edge_calls,
    local_params,
    mongo_params,
    names,
    payloads,
    redis_params,
    redis_url_edges,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from reliability_report import Outcome, record
from sergeant.config import Connector as ConnectorConfig
from sergeant.connector import Connector
from sergeant_mongo.connector import MAX_ITEM_BYTES
from sergeant_test_support.mongo_fixtures import MongoServer, mongo_connector_params
from sergeant_test_support.redis_fixtures import RedisServer

SIXTEEN_MIB = 16 * 2**20


def _examples(soak: bool, ci: int) -> int:
    return ci * 20 if soak else ci


def _fuzz(
    strategy: SearchStrategy[Any], body: Callable[[Any], None], examples: int, soak: bool
) -> None:
    """Run ``body`` on ``examples`` drawn values. Hangs are caught per call by
    :func:`fuzz_harness.bounded`, so hypothesis's own deadline is off (it would
    flag timing noise on a shared machine as failures)."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not soak,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def run(case: Any) -> None:
        body(case)

    run()


def _connect_bad(tally: Tally) -> Callable[[Params], None]:
    def body(case: Params) -> None:
        def attempt() -> None:
            sergeant.connect(ConnectorConfig(type=case.type, params=case.params)).close()

        tally.expect_error(repr(case), (case.field,), attempt, case.secret)

    return body


def _verdict(backend: str, tallies: list[Tally], extra: str = "", hide: str = "") -> None:
    """Record the backend's outcome, then fail listing every finding (``hide``: a tmp path)."""
    findings = [f for t in tallies for f in t.findings.values()]
    cases = sum(t.examples for t in tallies)
    bad = sum(t.bad for t in tallies)
    types = sorted({name for t in tallies for name in t.types})
    targets = "targets" if len(tallies) > 1 else "target"
    listed = "; ".join(str(f).replace(hide or "\0", "<tmp>")[:200] for f in findings[:6])
    if len(findings) > 6:
        listed += f"; and {len(findings) - 6} more"
    record(
        Outcome(
            scenario="5. bad input fuzz",
            backend=backend,
            load=f"{cases:,} fuzzed cases ({bad:,} bad) over {len(tallies)} {targets}",
            faults="bad params, names, payloads, priorities, counts, leases, receipts, TTLs",
            lost=None,
            duplicates=None,
            verdict="fail" if findings else "pass",
            details=" ".join(t.summary() + "." for t in tallies)
            + f" Distinct exception types: {len(types)} ({', '.join(types) or 'none'})."
            + extra
            + (f" Findings: {listed}" if findings else ""),
            figures={
                **{t.target: t.examples for t in tallies},
                "exception types": len(types),
                "findings": len(findings),
            },
        )
    )
    assert not findings, "\n".join(str(f) for f in findings)


def _sixteen_mib(tally: Tally, connector: Connector, queue: str) -> None:
    _round_trip(tally, connector, queue, SIXTEEN_MIB)


def _round_trip(tally: Tally, connector: Connector, queue: str, size: int) -> None:
    payload = os.urandom(size)

    def trip() -> None:
        connector.queue_push(queue, payload)
        got = connector.queue_pop(queue)
        tally.check(got == payload, f"{size:,}-byte payload pops back byte for byte", "push/pop")
        connector.queue_delete(queue)

    tally.expect_ok(f"queue_push of {size:,} bytes, then queue_pop", trip, bound=60)


@pytest.fixture
def local_connector(tmp_path: Path) -> Iterator[Connector]:
    config = ConnectorConfig(type="local", params={"file_path": str(tmp_path / "fuzz.sqlite3")})
    with sergeant.connect(config) as connector:
        yield connector


def test_fuzz_local(tmp_path: Path, soak: bool, local_connector: Connector) -> None:
    params, good, api = Tally("local params"), Tally("local good params"), Tally("local API")
    _fuzz(local_params(str(tmp_path)), _connect_bad(params), _examples(soak, 200), soak)

    def round_trip(case: tuple[str, Any, str, list[bytes]]) -> None:
        name, busy, synchronous, items = case
        config = ConnectorConfig(
            type="local",
            params={
                "file_path": str(tmp_path / name),
                "busy_timeout_seconds": busy,
                "synchronous": synchronous,
            },
        )

        def trip() -> None:
            with sergeant.connect(config) as connector:
                connector.queue_push_bulk("q", items)
                got = connector.queue_pop_bulk("q", len(items) + 1)
            good.check(got == items, "items round-trip", repr(case))

        good.expect_ok(repr(case), trip)

    file_names = st.text(min_size=1, max_size=30).filter(
        lambda s: "/" not in s and "\x00" not in s and s not in (".", "..")
    )
    good_local = st.tuples(
        file_names.map(lambda s: s + ".sqlite3"),
        st.floats(min_value=0.01, max_value=1e6) | st.integers(1, 10**6),
        st.sampled_from(("NORMAL", "FULL")),
        st.lists(payloads(), max_size=5),
    )
    _fuzz(good_local, round_trip, _examples(soak, 50), soak)
    _fuzz(
        api_calls(), lambda call: run_call(api, local_connector, call), _examples(soak, 600), soak
    )
    for call in edge_calls():
        run_call(api, local_connector, call)
    _sixteen_mib(api, local_connector, "sixteen")
    _verdict(
        "local", [params, good, api], " A 16 MiB payload was pushed and popped once.", str(tmp_path)
    )


def test_fuzz_redis(soak: bool, redis_server_factory: Callable[..., RedisServer]) -> None:
    server = redis_server_factory()
    params, good, api = Tally("redis params"), Tally("redis good params"), Tally("redis API")
    _fuzz(redis_params(), _connect_bad(params), _examples(soak, 200), soak)
    for case in redis_url_edges():
        _connect_bad(params)(case)

    def round_trip(case: tuple[dict[str, Any], str, list[bytes]]) -> None:
        node, queue, items = case

        def trip() -> None:
            config = ConnectorConfig(type="redis", params={"nodes": [node]})
            with sergeant.connect(config) as connector:
                connector.queue_delete(queue)
                connector.queue_push_bulk(queue, items)
                got = connector.queue_pop_bulk(queue, len(items) + 1)
            good.check(got == items, "items round-trip", repr(case))

        good.expect_ok(repr(case), trip)

    host = st.sampled_from(("127.0.0.1", "localhost"))
    as_mapping = st.fixed_dictionaries(
        {"host": host, "port": st.just(server.port)},
        optional={
            "database": st.integers(0, 15),
            "password": st.none(),
            "username": st.none(),
            "ssl": st.just(False),
            "socket_timeout": st.floats(min_value=0.5, max_value=1e6),
            "socket_connect_timeout": st.floats(min_value=0.5, max_value=1e6) | st.integers(1, 60),
        },
    )
    as_url = st.builds(
        lambda h, db, slash: f"redis://{h}:{server.port}" + (f"/{db}" if slash else ""),
        host,
        st.integers(0, 15),
        st.booleans(),
    )
    node = st.one_of(as_mapping, as_url, as_url.map(lambda url: {"url": url}))
    _fuzz(
        st.tuples(node, names(), st.lists(payloads(), max_size=5)),
        round_trip,
        _examples(soak, 50),
        soak,
    )

    config = ConnectorConfig(type="redis", params={"nodes": [server.node()]})
    with sergeant.connect(config) as connector:
        _fuzz(api_calls(), lambda call: run_call(api, connector, call), _examples(soak, 600), soak)
        for call in edge_calls():
            run_call(api, connector, call)
        _sixteen_mib(api, connector, "sixteen")
    _verdict("redis", [params, good, api], " A 16 MiB payload was pushed and popped once.")


def test_fuzz_mongo(soak: bool, mongo_server: MongoServer) -> None:
    params, api = Tally("mongo params"), Tally("mongo 16 MiB")
    _fuzz(mongo_params(), _connect_bad(params), _examples(soak, 200), soak)
    config = ConnectorConfig(type="mongo", params=mongo_connector_params(mongo_server))
    with sergeant.connect(config) as connector:
        # A MongoDB document holds at most 16 MiB: a 16 MiB item is refused by name,
        # the largest allowed one round-trips.
        big = b"x" * SIXTEEN_MIB
        api.expect_error("push of 16 MiB", ("item",), lambda: connector.queue_push("big", big))
        _round_trip(api, connector, "sixteen", MAX_ITEM_BYTES)
    _verdict(
        "mongo",
        [params, api],
        f" A 16 MiB payload was refused naming the limit and one of {MAX_ITEM_BYTES:,} bytes"
        f" pushed and popped (on the {mongo_server.kind} server).",
    )


def test_fuzz_config(soak: bool) -> None:
    tally = Tally("config objects")
    _fuzz(config_cases(), lambda case: run_config_case(tally, case), _examples(soak, 400), soak)
    _verdict("core (config, encoder)", [tally])
