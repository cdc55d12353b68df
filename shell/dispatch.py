"""The handler's turn: the last steps of the pipeline, on a handler thread, inside Flask's request
context.

Everything from authorization on runs here in one hand-off from the event loop: the caller is
settled with the request's own session, the body limit's verdict and validation come next, then
the handler, and the request's one commit after it returns. A handler returns a body (or its
JSON bytes), or (body, status), or (body, status, headers); `reply` makes the answer. Whatever
is raised on the way becomes a problem answer here, after the transaction is rolled back.
"""

from __future__ import annotations

import io
from typing import Any

import flask
import orjson
from a2wsgi.wsgi import build_environ
from starlette.types import Scope

from shell import problems, state
from shell.answers import Answer


class HandlerFlask(flask.Flask):
    """Flask as the handlers run in it: its request context, `g` and its before_request hooks,
    but no routing of its own, since the pipeline has routed the request already. Without a
    URL adapter the request context does not try to match the request against Flask's (empty)
    URL map, a fifth of what pushing it costs."""

    def create_url_adapter(self, request: Any) -> None:  # noqa: ARG002  # Flask's signature
        return None


class Dispatch:
    def __init__(self, flask_app: flask.Flask) -> None:
        self.flask = flask_app

    def __call__(self, scope: Scope, path_params: dict[str, Any]) -> Answer:
        request = state.current()
        operation = request.operation
        assert operation is not None  # routed before the hand-off
        # a2wsgi types the body as its own streaming reader and the environ as a TypedDict; a
        # BytesIO reads the same, and the environ is only handed on to Flask
        environ: dict[str, Any] = build_environ(scope, io.BytesIO(request.body))  # type: ignore[arg-type, assignment]
        with self.flask.request_context(environ):
            try:
                try:
                    self.flask.preprocess_request()  # Flask's before_request hooks, if any
                    if request.claims is not None:  # 4. authorization
                        session = request.session()
                        request.caller = operation.scopes.settle(session, request.claims)
                    if request.body_refused is not None:  # 5. the body limit's verdict
                        raise request.body_refused
                    arguments, request.read_only_sent = operation.validator.arguments(
                        scope, path_params, request.body
                    )  # 6. validation, and Connexion's binding
                    result = operation.handler(**arguments)  # 7. the handler
                    request.commit()
                except BaseException:
                    request.rollback()
                    raise
                return reply(result)
            except Exception as exc:
                return problems.answer(exc)
            finally:
                request.close()


def reply(result: Any) -> Answer:
    """A handler's result as its answer: a body (or its JSON bytes), or (body, status), or
    (body, status, headers); a body of None is no body."""
    body, status, headers = (*result, {})[:3] if isinstance(result, tuple) else (result, 200, {})
    if body is None:
        return Answer.json(status, None, headers)
    # bytes: already JSON, serialized once to tag it (shell/conditional.py)
    return Answer.json(status, body if isinstance(body, bytes) else orjson.dumps(body), headers)
