"""Error types shared by the services and the gateway.

A use case raises one of these; nameko serializes it over RPC with its
``exc_path``, and the gateway maps it back through ``error_class`` to an HTTP
status and API.md's error body.
"""

from nameko.exceptions import deserialize_to_instance


class KamengError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None, details: object = None) -> None:
        # all in args, so that nameko's serialization carries the code and details too
        code = code or self.code
        super().__init__(message, code, *([] if details is None else [details]))
        self.message = message
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(KamengError):
    status = 422
    code = "invalid_input"


class InvalidSignature(KamengError):
    status = 400
    code = "invalid_signature"


class Unauthorized(KamengError):
    status = 401
    code = "unauthorized"


class Forbidden(KamengError):
    status = 403
    code = "forbidden"


class NotFound(KamengError):
    status = 404
    code = "not_found"


class Conflict(KamengError):
    status = 409
    code = "conflict"


class Unavailable(KamengError):
    status = 503
    code = "unavailable"


_BY_PATH = {
    f"{cls.__module__}.{cls.__name__}": cls
    for cls in (
        KamengError,
        InvalidInput,
        InvalidSignature,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Unavailable,
    )
}


# registered, they come back from a service's RpcProxy as themselves (code
# included) rather than as nameko's RemoteError, so a refusal one service
# relays from another still reaches the gateway as the 4xx it is
for _error in _BY_PATH.values():
    deserialize_to_instance(_error)


def error_class(exc_path: str) -> type[KamengError] | None:
    """The KamengError subclass a remote ``exc_path`` names, or None."""
    return _BY_PATH.get(exc_path)
