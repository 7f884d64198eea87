from __future__ import annotations

import pytest

from parley.domain.acl import path_allowed

STANDARD = {"paths": {"/*/users/**": {}, "/*/conversations/**": {}, "/*/sessions/**": {}, "/*/devices/**": {},
                      "/*/image/**": {}, "/*/media/**": {}, "/*/applications/**": {}, "/*/push/**": {},
                      "/*/knocking/**": {}, "/*/legs/**": {}}}


@pytest.mark.parametrize("path", [
    "/v1/users", "/v1/users/USR-1", "/v1/users/USR-1/conversations", "/beta/conversations/CON-1/events",
    "/v0.3/conversations", "/v1/conversations/CON-1/members/me",
])
def test_standard_client_acl_grants_its_paths(path: str) -> None:
    assert path_allowed(STANDARD, "GET", path)


@pytest.mark.parametrize("path", ["/v1/other", "/users", "/v1/v2/users", "/v1/userss"])
def test_standard_client_acl_refuses_other_paths(path: str) -> None:
    assert not path_allowed(STANDARD, "GET", path)


def test_single_star_matches_exactly_one_segment() -> None:
    acl = {"paths": {"/v1/users/*": {}}}
    assert path_allowed(acl, "GET", "/v1/users/USR-1")
    assert not path_allowed(acl, "GET", "/v1/users/USR-1/conversations")
    assert not path_allowed(acl, "GET", "/v1/users")


def test_methods_restrict_the_rule_case_insensitively() -> None:
    acl = {"paths": {"/*/users/**": {"methods": ["get"]}}}
    assert path_allowed(acl, "GET", "/v1/users")
    assert not path_allowed(acl, "POST", "/v1/users")


def test_no_acl_claim_grants_everything_and_a_malformed_one_nothing() -> None:
    assert path_allowed(None, "DELETE", "/v1/anything")
    assert not path_allowed({"paths": ["/v1/users"]}, "GET", "/v1/users")
    assert not path_allowed("everything", "GET", "/v1/users")
    assert not path_allowed({"paths": {}}, "GET", "/v1/users")


def test_literal_dots_in_patterns_are_not_wildcards() -> None:
    acl = {"paths": {"/v0.1/users/**": {}}}
    assert path_allowed(acl, "GET", "/v0.1/users/x")
    assert not path_allowed(acl, "GET", "/v0x1/users/x")
