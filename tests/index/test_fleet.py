"""A fleet on PostgreSQL (issue 16): several trails, each its own origin and key, feed one
real database; searches span them or keep to one, lineage stays within its trail, and
`verify --index` of one trail sees only its own rows, so a tampered journal is pinned on the
right trail."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

import tradetrail
from conftest import SimClock
from helpers import run
from postgres_server import PostgresDsns
from tradetrail.index import Query, check_index, lineage, trail_origin, update_index
from tradetrail.index.postgres import PostgresIndex, migrate

DESKS = ("fleet.example/desk-1", "fleet.example/desk-2", "fleet.example/desk-3")


def make_trail(home: Path, origin: str, n: int) -> None:
    clock = SimClock("2024-03-04T09:00:00")
    with tradetrail.open(
        home, origin=origin, clock=clock, min_free_bytes=0, durability="write"
    ) as trail:
        for i in range(n):
            trail.record(
                ("order.accepted", "order.filled", "risk.rejected")[i % 3],
                {"qty": str(i % 5), "desk": origin},
                order_id=f"O-{i // 3}",  # the same order ids on every desk
                symbol="BTC-USD",
            )
            clock.advance(1)
        trail.flush()


@pytest.fixture
def fleet(tmp_path: Path, postgres_dsns: PostgresDsns) -> tuple[list[Path], PostgresDsns]:
    dsns = postgres_dsns.server.create_database()
    migrate(dsns.owner, dsns.app_role)
    homes = []
    for number, origin in enumerate(DESKS):
        home = tmp_path / f"desk-{number + 1}"
        make_trail(home, origin, 30 + 10 * number)
        index = PostgresIndex(dsns.app)  # each trail its own indexer, as on its own host
        try:
            update_index(home, index)
        finally:
            index.close()
        homes.append(home)
    return homes, dsns


def test_trails_of_a_fleet_meet_in_one_database(
    fleet: tuple[list[Path], PostgresDsns], tmp_path: Path
) -> None:
    homes, dsns = fleet
    index = PostgresIndex(dsns.app)
    try:
        assert index.origins() == sorted(DESKS)
        sizes = {o: index.last_seq(o) + 1 for o in DESKS}
        counts = {o: len(index.search(Query(origin=o, limit=None))) for o in DESKS}
        assert counts == sizes and sizes[DESKS[0]] < sizes[DESKS[1]] < sizes[DESKS[2]]
        rejected = index.search(Query(types=("risk.rejected",), limit=None))
        assert {r.origin for r in rejected} == set(DESKS)
        for origin in DESKS:  # O-2 exists on every desk: lineage keeps to the one asked
            story = lineage(index, "O-2", origin)
            assert story.found and {r.origin for r in story.records()} == {origin}
            assert {orjson.loads(r.record)["data"]["desk"] for r in story.records()} == {origin}
    finally:
        index.close()

    nowhere = tmp_path / "not-a-trail"  # a compliance desk's machine: no trail of its own
    every = run(
        "search", "--home", nowhere, "--database-url", dsns.app, "--all-origins",
        "--type", "risk.rejected", "--limit", "1000", "--json",
    )  # fmt: skip
    assert every.exit_code == 0, every.output
    found = [orjson.loads(line) for line in every.stdout.splitlines()]
    assert {r["origin"] for r in found} == set(DESKS)
    assert len(found) == len(rejected)
    assert [(r["ts"], r["seq"]) for r in found] == sorted((r["ts"], r["seq"]) for r in found)
    two = run(
        "search", "--home", nowhere, "--database-url", dsns.app, "--origin", DESKS[1],
        "--origin", DESKS[2], "--order-id", "O-1", "--json",
    )  # fmt: skip
    assert two.exit_code == 0, two.output
    picked = [orjson.loads(line) for line in two.stdout.splitlines()]
    assert sorted({r["origin"] for r in picked}) == [DESKS[1], DESKS[2]]
    assert len(picked) == 6 and {r["order_id"] for r in picked} == {"O-1"}
    own = run("search", "--home", homes[0], "--database-url", dsns.app, "--order-id", "O-1")
    assert own.exit_code == 0 and DESKS[1] not in own.stdout  # the default: the trail's own
    bad = run("search", "--home", nowhere, "--database-url", dsns.app, "--origin", "x", "--proof")
    assert bad.exit_code == 2 and "--proof" in bad.output
    none = run("search", "--home", nowhere, "--database-url", dsns.app, "--origin", "nobody")
    assert none.exit_code == 1


def test_index_check_of_one_trail_finds_its_tampering_only(
    fleet: tuple[list[Path], PostgresDsns],
) -> None:
    homes, dsns = fleet
    journal = sorted((homes[1] / "journal").glob("*.jsonl"))[0]
    lines = journal.read_bytes().split(b"\n")
    target = next(i for i, line in enumerate(lines) if b'"qty":"3"' in line)
    lines[target] = lines[target].replace(b'"qty":"3"', b'"qty":"9"')
    os.chmod(journal, 0o644)
    journal.write_bytes(b"\n".join(lines))
    index = PostgresIndex(dsns.app)
    try:
        checks = {trail_origin(h): check_index(h, index) for h in homes}
    finally:
        index.close()
    assert checks[DESKS[1]].differ == [orjson.loads(lines[target])["seq"]]
    assert not checks[DESKS[1]].missing and not checks[DESKS[1]].extra
    for home in (homes[0], homes[2]):
        records = sum(p.read_bytes().count(b"\n") for p in (home / "journal").glob("*.jsonl"))
        assert checks[trail_origin(home)].ok and checks[trail_origin(home)].checked == records


@pytest.mark.slow
def test_the_service_of_one_trail_searches_the_fleet(
    fleet: tuple[list[Path], PostgresDsns],
) -> None:
    """GET /v1/search with origin / all_origins on a service whose index is the fleet's
    database; a token bound to its own origin may not look at the others."""
    import httpx

    from service_server import bearer, running, token

    homes, dsns = fleet
    reader = token(homes[0], "read")
    own_only = token(homes[0], "read", name="own", origin=DESKS[0])
    with running(homes[0], TRADETRAIL_DATABASE_URL=dsns.app) as service:
        url = f"{service.url}/v1/search"

        def hits(secret: str, **params: object) -> httpx.Response:
            query = {"type": "risk.rejected", "limit": 1000, **params}
            return httpx.get(url, params=query, headers=bearer(secret))

        own = hits(reader).json()["records"]
        assert own and all("origin" not in r and r["data"]["desk"] == DESKS[0] for r in own)
        every = hits(reader, all_origins="true").json()["records"]
        assert {r["origin"] for r in every} == set(DESKS)
        assert all(r["data"]["desk"] == r["origin"] for r in every)
        two = hits(reader, origin=[DESKS[1], DESKS[2]]).json()["records"]
        assert {r["origin"] for r in two} == {DESKS[1], DESKS[2]}
        assert [(r["ts"], r["seq"]) for r in two] == sorted((r["ts"], r["seq"]) for r in two)
        assert hits(own_only).status_code == 200
        assert hits(own_only, origin=DESKS[0]).status_code == 200
        assert hits(own_only, all_origins="true").status_code == 403
        assert hits(own_only, origin=DESKS[1]).status_code == 403
        both = hits(reader, origin=DESKS[1], all_origins="true")
        assert both.status_code == 422
