"""Request bodies are parsed here, in one place: strict UTF-8 JSON, no duplicate keys.

FastAPI reads a JSON body with ``json.loads(bytes)``, which guesses UTF-16/32 from the
first bytes and lets the last of two equal keys win (``{"t": 5, "t": 9}`` is silently
``{"t": 9}``). Every route that takes a body uses :class:`JsonBodyRoute`, whose request
parses with :func:`parse_json_body` instead:

* the body must be UTF-8 (else 400);
* a key may appear once per object (else 400, naming the key when it is a plain name);
* nesting past Python's recursion limit (about 1,000 levels) is a 400, not a 500;
* malformed JSON stays FastAPI's 422 ``body: malformed JSON at character N``.

The body is parsed by orjson first (several times faster than the standard library); its
result is kept only when it is certainly what the strict parser would return: orjson accepts
only strict RFC 8259 JSON (anything it refuses, such as ``NaN``, a 70-digit integer or a lone
surrogate, goes to the standard parser, which decides as before); it reads an integer past
64 bits as a float, so a body with a run of 19 digits or more goes there too; and it lets the
last of two equal keys win, so its result stands only when the body has exactly as many ``:``
as the result written back (every key is followed by one ``:``, a string keeps its own; a
duplicate key drops a key and its value; ``\u003a``, the only other way to write a ``:``, sends
the body to the standard parser).

The 400s are documented on each body route by :data:`BODY_ERRORS` (OpenAPI).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from serving.schemas import ErrorOut

#: Every body parse error starts with this, as FastAPI's own did (clients may match on it).
BODY_ERROR_PREFIX = "There was an error parsing the body"
NOT_UTF8 = f"{BODY_ERROR_PREFIX}: it is not UTF-8 text; send UTF-8 JSON"
TOO_DEEP = f"{BODY_ERROR_PREFIX}: JSON nested too deeply (a session is a few levels deep)"
NUMBER_TOO_LONG = f"{BODY_ERROR_PREFIX}: a number has too many digits"
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")

#: OpenAPI ``responses`` entry of every route that reads a JSON body.
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut,
          "description": "The body cannot be read unambiguously: not UTF-8, JSON nested too deeply, "
                         "a key given twice in one object, or a number with too many digits"},
}


class DuplicateKeyError(ValueError):
    """A JSON object of the body names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    @property
    def message(self) -> str:
        named = f' "{self.key}"' if _PLAIN_KEY.fullmatch(self.key) else ""  # never echo odd keys
        return (f"{BODY_ERROR_PREFIX}: key{named} appears twice in one JSON object; "
                "send each key once")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


def parse_json_body(raw: bytes) -> Any:
    """The body as JSON; :class:`HTTPException` 400 when it cannot be read unambiguously.

    ``json.JSONDecodeError`` (malformed JSON) is left to the caller (FastAPI answers 422).
    """
    fast = _fast_parse(raw)
    return fast if fast is not _UNSURE else _strict_parse(raw)


_UNSURE = object()
#: Every ASCII digit as ``0``, every other byte as a space: a run of 19 digits is then ``_LONG_DIGITS``
#: (every integer of 18 digits fits orjson's 64 bits; -9223372036854775809 has 19).
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_DIGITS = b"0" * 19


def _fast_parse(raw: bytes) -> Any:
    """orjson's reading of the body when it is certainly the strict parser's (module docstring),
    else ``_UNSURE``."""
    if b"\\u003a" in raw or b"\\u003A" in raw or _LONG_DIGITS in raw.translate(_DIGITS_TO_ZERO):
        return _UNSURE
    try:
        parsed = orjson.loads(raw)
        written = orjson.dumps(parsed)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # also: nested past orjson's limit
        return _UNSURE
    return parsed if raw.count(b":") == written.count(b":") else _UNSURE


def _strict_parse(raw: bytes) -> Any:
    """The standard library's parse, with every check of the module docstring."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, NOT_UTF8) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError:
        raise
    except DuplicateKeyError as err:
        raise HTTPException(400, err.message) from None
    except RecursionError:
        raise HTTPException(400, TOO_DEEP) from None
    except ValueError:  # an integer past Python's digit limit
        raise HTTPException(400, NUMBER_TOO_LONG) from None


class JsonBodyRequest(Request):
    """A request whose ``json()`` is :func:`parse_json_body`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body())
        return self._json


class JsonBodyRoute(APIRoute):
    """An API route that parses its JSON body with :func:`parse_json_body`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(JsonBodyRequest(request.scope, request.receive))

        return route_handler
