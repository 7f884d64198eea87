"""Domain errors. Each carries the API's own error code; `api/errors.py` maps codes to HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InvalidParameter:
    name: str
    reason: str


@dataclass
class DomainError(Exception):
    """A refusal with the API's error `code` (e.g. `conversation:error:not-found`) and a human `detail`."""

    code: str
    detail: str
    invalid_parameters: list[InvalidParameter] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def validation_error(*params: InvalidParameter, detail: str = "Input validation failure.") -> DomainError:
    return DomainError("http:error:validation-fail", detail, list(params))


def invalid(name: str, reason: str) -> DomainError:
    return validation_error(InvalidParameter(name, reason))


def not_found(kind: str) -> DomainError:
    codes = {
        "conversation": ("conversation:error:not-found", "Conversation does not exist, or you do not have access."),
        "member": ("conversation:error:member-not-found", "Member does not exist, or you do not have access."),
        "event": ("event:error:not-found", "Event does not exist, or you do not have access."),
        "user": ("user:error:not-found", "User does not exist, or you do not have access."),
        "application": ("application:error:not-found", "Application does not exist."),
    }
    code, detail = codes[kind]
    return DomainError(code, detail)


def forbidden(detail: str, code: str = "system:error:permission") -> DomainError:
    return DomainError(code, detail)


def already_joined() -> DomainError:
    return DomainError(
        "conversation:error:member-already-joined",
        "The request failed due to the user already having a member joined in 'app' type. "
        "Please provide a valid user and try again.",
    )


def duplicate_name(kind: str) -> DomainError:
    """`kind` is `user` or `conversation`: names are unique per application."""
    return DomainError(
        f"{kind}:error:duplicate-name",
        f"The request failed because the {kind} name already exists. "
        f"Please provide a unique {kind} name and try again.",
    )
