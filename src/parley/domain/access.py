"""Who may read and write a conversation.

Readers: an admin, its creator, or a user with a membership in it. A user whose membership ended (LEFT) keeps
read access to the history up to the moment it ended, like Matrix; a user who was never a member gets the same
answer as for a conversation that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

from parley.domain.errors import DomainError, not_found
from parley.domain.models import Conversation, ConversationState, Member, MemberState
from parley.domain.ports import Store
from parley.domain.principal import Principal


async def readable_conversation(
    store: Store, principal: Principal, conversation_id: str
) -> tuple[Conversation, Member | None]:
    conversation = await store.conversation(principal.application_id, conversation_id)
    if conversation is None:
        raise not_found("conversation")
    if principal.user is None:
        return conversation, None
    member = await store.latest_member_of_user(principal.application_id, conversation_id, principal.user.id)
    if member is None:
        if conversation.created_by == principal.user.id:
            return conversation, None  # its creator, before joining it
        raise not_found("conversation")
    return conversation, member


def history_limit(member: Member | None) -> int | None:
    """The last event id a reader may see: None = everything."""
    if member is not None and member.state is MemberState.LEFT:
        return member.left_event_id or 0
    return None


def require_writable(conversation: Conversation) -> None:
    if conversation.state is not ConversationState.ACTIVE:
        raise DomainError(
            "conversation:error:not-allowed",
            f"The current state of the conversation is {conversation.state.value}. "
            "Only GET and DELETE actions are allowed.",
        )


def require_joined(member: Member | None, code: str = "event:error:not-joined") -> Member:
    if member is None or member.state is not MemberState.JOINED:
        raise DomainError(code, "The member is not in a 'JOINED' state.")
    return member
