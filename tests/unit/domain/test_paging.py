from __future__ import annotations

import base64
import json

import pytest

from parley.domain.errors import DomainError
from parley.domain.paging import PageRequest, decode_cursor, encode_cursor, page_request, paginate


def rows(keys: list[int]) -> list[int]:
    return keys


def test_cursor_round_trip_keeps_size_order_filters_and_position() -> None:
    request = PageRequest(size=7, order="desc", filters={"name": "alice"}, position=42, backwards=True)
    assert decode_cursor(encode_cursor(request)) == request


@pytest.mark.parametrize("cursor", [
    "not base64 at all!!", base64.urlsafe_b64encode(b"[1,2]").decode(),
    base64.urlsafe_b64encode(json.dumps({"p": 1, "s": 0, "o": "asc", "f": {}, "b": 0}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"p": "x", "s": 10, "o": "asc", "f": {}, "b": 0}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"p": 1, "s": 10, "o": "up", "f": {}, "b": 0}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"p": 1, "s": 10, "o": "asc", "f": {"a": 1}, "b": 0}).encode()).decode(),
])
def test_invalid_cursors_are_refused_with_the_api_code(cursor: str) -> None:
    with pytest.raises(DomainError) as caught:
        decode_cursor(cursor)
    assert caught.value.code == "paginator-builder:error:invalid-cursor"


def test_query_parameters_parse_case_insensitively_and_validate() -> None:
    assert page_request("25", "DESC", None, {}) == PageRequest(25, "desc", {}, None, False)
    assert page_request(None, None, None, {}).size == 10
    for size in ("0", "101", "x", "-1"):
        with pytest.raises(DomainError) as caught:
            page_request(size, None, None, {})
        assert caught.value.invalid_parameters[0].name == "page_size"
    with pytest.raises(DomainError):
        page_request(None, "sideways", None, {})


def test_a_cursor_wins_over_other_parameters() -> None:
    cursor = encode_cursor(PageRequest(5, "desc", {}, 9, False))
    assert page_request("50", "asc", cursor, {}) == PageRequest(5, "desc", {}, 9, False)


def test_forward_pages_link_next_and_prev() -> None:
    first = PageRequest(size=2)
    page = paginate([1, 2, 3], first, lambda k: k)
    assert list(page.items) == [1, 2]
    assert page.next == PageRequest(2, "asc", {}, 2, False)
    assert page.prev is None
    second = paginate([3], page.next, lambda k: k)  # type: ignore[arg-type]
    assert list(second.items) == [3]
    assert second.next is None
    assert second.prev == PageRequest(2, "asc", {}, 3, True)


def test_backward_pages_come_back_in_page_order() -> None:
    request = PageRequest(size=2, position=5, backwards=True)
    assert request.scan().descending is True
    page = paginate([4, 3, 2], request, lambda k: k)  # scan order is descending
    assert list(page.items) == [3, 4]
    assert page.next == PageRequest(2, "asc", {}, 4, False)
    assert page.prev == PageRequest(2, "asc", {}, 3, True)


def test_desc_order_scans_descending_and_prev_ascending() -> None:
    assert PageRequest(size=3, order="desc").scan().descending is True
    assert PageRequest(size=3, order="desc", position=3, backwards=True).scan().descending is False
