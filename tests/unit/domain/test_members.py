from __future__ import annotations

import pytest

from parley.domain.errors import DomainError
from parley.domain.members import check_transition
from parley.domain.models import MemberState

I, J, L = MemberState.INVITED, MemberState.JOINED, MemberState.LEFT


@pytest.mark.parametrize(("current", "target"), [(I, J), (I, L), (J, L)])
def test_allowed_transitions(current: MemberState, target: MemberState) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target", "code"), [
    (L, J, "conversation:error:invalid-member-state"),
    (L, L, "conversation:error:invalid-member-state"),
    (L, I, "conversation:error:invalid-member-state"),
    (J, J, "conversation:error:member-already-joined"),
    (J, I, "http:error:validation-fail"),
    (I, I, "http:error:validation-fail"),
])
def test_refused_transitions_carry_the_api_code(current: MemberState, target: MemberState, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        check_transition(current, target)
    assert caught.value.code == code
