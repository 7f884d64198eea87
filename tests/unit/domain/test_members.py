from __future__ import annotations

import pytest

from parley.domain.errors import DomainError
from parley.domain.members import check_transition
from parley.domain.models import MemberState

INV, J, L = MemberState.INVITED, MemberState.JOINED, MemberState.LEFT


@pytest.mark.parametrize(("current", "target"), [(INV, J), (INV, L), (J, L)])
def test_allowed_transitions(current: MemberState, target: MemberState) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target", "code"), [
    (L, J, "conversation:error:invalid-member-state"),
    (L, L, "conversation:error:invalid-member-state"),
    (L, INV, "conversation:error:invalid-member-state"),
    (J, J, "conversation:error:member-already-joined"),
    (J, INV, "http:error:validation-fail"),
    (INV, INV, "http:error:validation-fail"),
])
def test_refused_transitions_carry_the_api_code(current: MemberState, target: MemberState, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        check_transition(current, target)
    assert caught.value.code == code
