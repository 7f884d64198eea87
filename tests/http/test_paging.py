"""Cursor paging of every list: follow `_links.next` with nothing but its `cursor` (as the Node clients do)."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.conftest import (
    Api,
)

BASE = "http://parley.test"

def cursor_of(link: dict[str, str]) -> str:
    url = urlsplit(link["href"])
    assert url.scheme == "http" and url.netloc == "parley.test", link  # absolute: Node does `new URL(href)`
    cursors = parse_qs(url.query)["cursor"]
    assert len(cursors) == 1
    return cursors[0]


async def fetch(api: Api, path: str, cursor: str) -> dict[str, Any]:
    page: dict[str, Any] = await api.ok("GET", f"{path}?cursor={quote(cursor, safe='')}")
    return page


def items(page: dict[str, Any], resource: str) -> list[Any]:
    embedded = page["_embedded"]
    found = embedded if isinstance(embedded, list) else embedded[resource]
    return [item["id"] for item in found]


async def walk(api: Api, path: str, query: str, resource: str) -> list[dict[str, Any]]:
    """Every page from the first (`path?query`) on, following `next` with only its cursor."""
    page = await api.ok("GET", f"{path}?{query}")
    pages = [page]
    while "next" in page["_links"]:
        assert len(pages) < 50, "paging does not end"
        page = await fetch(api, path, cursor_of(page["_links"]["next"]))
        pages.append(page)
    for page in pages:
        assert {"first", "self"} <= set(page["_links"]), page["_links"]
        assert page["_links"]["first"]["href"].startswith(f"{BASE}{path}?")
        assert page["_links"]["self"]["href"].startswith(f"{BASE}{path}?")
        assert resource in page["_embedded"] or isinstance(page["_embedded"], list)
    return pages


async def check_walk(api: Api, path: str, resource: str, expected: list[Any], size: int, query: str = "") -> None:
    """Forward, backward (prev), self and first links all agree with `expected` in both orders."""
    for order, want in (("asc", expected), ("desc", expected[::-1])):
        pages = await walk(api, path, f"page_size={size}&order={order}{query}", resource)
        chunks = [want[i:i + size] for i in range(0, len(want), size)] or [[]]
        assert [items(p, resource) for p in pages] == chunks, order
        assert all(p["page_size"] == size for p in pages)
        assert "next" not in pages[-1]["_links"]
        assert "prev" not in pages[0]["_links"]
        # back from the last page with `prev`, again with nothing but the cursor
        page = pages[-1]
        for index in range(len(pages) - 2, -1, -1):
            page = await fetch(api, path, cursor_of(page["_links"]["prev"]))
            assert items(page, resource) == chunks[index], (order, index)
            assert "next" in page["_links"]
        assert "prev" not in page["_links"]
        if len(pages) > 1:  # and forward again from the page reached backwards
            forward = await fetch(api, path, cursor_of(page["_links"]["next"]))
            assert items(forward, resource) == chunks[1], order
        # `self` of a middle page and `first` of the last one reproduce those pages
        if len(pages) > 1:
            again = await api.ok("GET", pages[1]["_links"]["self"]["href"].removeprefix(BASE))
            assert items(again, resource) == chunks[1]
            first = await api.ok("GET", pages[-1]["_links"]["first"]["href"].removeprefix(BASE))
            assert items(first, resource) == chunks[0]


async def test_users(api: Api) -> None:
    created = [(await api.user(f"user{n:02d}"))["id"] for n in range(25)]
    await check_walk(api, "/v1/users", "users", created, 10)
    pages = await walk(api, "/v1/users", "page_size=10", "users")
    assert [len(items(p, "users")) for p in pages] == [10, 10, 5]
    everything = await api.ok("GET", "/v1/users?page_size=100")
    assert items(everything, "users") == created
    assert "next" not in everything["_links"]
    default = await api.ok("GET", "/v1/users")
    assert default["page_size"] == 10
    assert items(default, "users") == created[:10]
    # the name filter is part of the cursor
    await check_walk(api, "/v1/users", "users", [created[3]], 10, "&name=user03")


async def test_exact_multiple_of_the_page_size(api: Api) -> None:
    created = [(await api.user(f"user{n}"))["id"] for n in range(6)]
    pages = await walk(api, "/v1/users", "page_size=3", "users")
    assert [items(p, "users") for p in pages] == [created[:3], created[3:]]
    assert (await api.ok("GET", "/v1/users?page_size=3"))["_links"].keys() >= {"first", "self", "next"}


async def test_empty_lists(api: Api) -> None:
    for path, resource in (("/v1/users", "users"), ("/v1/conversations", "conversations")):
        page = await api.ok("GET", f"{path}?page_size=5")
        assert page["_embedded"] == {resource: []}
        assert set(page["_links"]) == {"first", "self"}


async def test_events(api: Api) -> None:
    await api.user("alice")
    cid = (await api.conversation("chat"))["id"]
    member = await api.member(cid, "alice")  # event 1
    for n in range(34):
        await api.text(cid, member["id"], f"m{n}")  # events 2..35
    path = f"/v1/conversations/{cid}/events"
    await check_walk(api, path, "events", list(range(1, 36)), 10)
    pages = await walk(api, path, "page_size=10", "events")
    assert [len(items(p, "events")) for p in pages] == [10, 10, 10, 5]
    # filters travel in the cursor
    await check_walk(api, path, "events", list(range(2, 36)), 10, "&event_type=message")
    await check_walk(api, path, "events", list(range(5, 31)), 7, "&start_id=5&end_id=30")
    # the Node client's array envelope pages the same way
    node = {"User-Agent": "@vonage/server-sdk/3.0.0, node/20.0.0"}
    first = await api.ok("GET", f"{path}?page_size=20", headers=node)
    second = await api.ok("GET", f"{path}?cursor={cursor_of(first['_links']['next'])}", headers=node)
    assert [e["id"] for e in first["_embedded"]] + [e["id"] for e in second["_embedded"]] == list(range(1, 36))


async def test_members(api: Api) -> None:
    cid = (await api.conversation("chat"))["id"]
    members = []
    for n in range(12):
        await api.user(f"user{n:02d}")
        members.append((await api.member(cid, f"user{n:02d}", "joined" if n % 2 else "invited"))["id"])
    await check_walk(api, f"/v1/conversations/{cid}/members", "members", members, 5)


async def test_conversations(api: Api) -> None:
    created = [(await api.conversation(f"conv{n:02d}"))["id"] for n in range(12)]
    await check_walk(api, "/v1/conversations", "conversations", created, 5)
    await check_walk(api, "/v1/conversations", "conversations", created, 5,
                     "&date_start=2000-01-01T00:00:00.000Z&date_end=2999-01-01T00:00:00.000Z")
    await check_walk(api, "/v1/conversations", "conversations", [], 5, "&date_start=2999-01-01T00:00:00.000Z")


async def test_user_conversations(api: Api) -> None:
    alice = await api.user("alice")
    joined, invited = [], []
    for n in range(7):
        cid = (await api.conversation(f"conv{n}"))["id"]
        (invited if n % 3 == 0 else joined).append(cid)
        await api.member(cid, "alice", "invited" if n % 3 == 0 else "joined")
    path = f"/v1/users/{alice['id']}/conversations"
    everything = (await api.ok("GET", f"{path}?page_size=100"))["_embedded"]["conversations"]
    assert sorted(c["id"] for c in everything) == sorted(joined + invited)
    await check_walk(api, path, "conversations", [c["id"] for c in everything], 3)
    await check_walk(api, path, "conversations", joined, 2, "&state=JOINED")


async def test_inserts_and_deletes_while_paging(api: Api) -> None:
    """Keyset paging: rows that existed before paging started appear exactly once, whatever happens between
    page fetches; deleted rows simply drop out."""
    original = [(await api.user(f"user{n:02d}"))["id"] for n in range(25)]
    for order in ("asc", "desc"):
        seen: list[str] = []
        page = await api.ok("GET", f"/v1/users?page_size=10&order={order}")
        seen += items(page, "users")
        extra = 0
        while "next" in page["_links"]:
            for _ in range(3):
                await api.user(f"{order}-new{extra}")
                extra += 1
            page = await fetch(api, "/v1/users", cursor_of(page["_links"]["next"]))
            seen += items(page, "users")
        assert len(seen) == len(set(seen)), "a user appeared twice"
        assert [u for u in seen if u in original] == (original if order == "asc" else original[::-1])
        if order == "asc":
            assert len(seen) > len(original)  # rows inserted behind the cursor are reached too

    current = items(await api.ok("GET", "/v1/users?page_size=100"), "users")
    first = await api.ok("GET", "/v1/users?page_size=10")
    doomed = current[12]  # on the second page
    assert (await api.request("DELETE", f"/v1/users/{doomed}")).status_code == 204
    seen = items(first, "users")
    page = first
    while "next" in page["_links"]:
        page = await fetch(api, "/v1/users", cursor_of(page["_links"]["next"]))
        seen += items(page, "users")
    assert seen == [u for u in current if u != doomed]
