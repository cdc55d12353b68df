"""Domain errors: what the data layer refuses, turned into HTTP problems in api/problems.py."""

from __future__ import annotations

from typing import ClassVar, Self

FieldErrors = dict[str, list[str]]


class DomainError(Exception):
    status_code: ClassVar[int] = 400

    def __init__(self, errors: FieldErrors, detail: str | None = None) -> None:
        self.errors = errors
        self.detail = detail or "; ".join(
            f"{field}: {', '.join(messages)}" for field, messages in errors.items()
        )
        super().__init__(self.detail)

    @classmethod
    def on(cls, field: str, message: str, detail: str | None = None) -> Self:
        return cls({field: [message]}, detail)


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """The request is fine, but the state it would leave is not allowed."""

    status_code = 409


class Invalid(DomainError):
    """A well-formed request that breaks a rule: 422, as RealWorld clients expect."""

    status_code = 422
