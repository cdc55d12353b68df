"""Domain errors: what the data layer refuses, turned into HTTP problems in shell/problems.py."""

from __future__ import annotations

from typing import ClassVar, Self

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

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


def unreachable(error: BaseException) -> bool:
    """Whether an error says the database cannot be reached now (down, restarting, out of
    connection slots, a connection that died) rather than that the request or the code is wrong:
    worth trying again in a moment. db/session.py marks PostgreSQL's such errors as disconnects."""
    if isinstance(error, PoolTimeout):  # every connection busy for pool_timeout seconds
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated
