"""URLs and client properties fit to print: what the engine says about the servers it reaches
never shows a secret."""

from __future__ import annotations

import re

_USERINFO_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#:@]*):[^/?#]*@", re.IGNORECASE)

_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pass|secret|token)=)[^&#]*", re.IGNORECASE)


def redacted_url(url: str) -> str:
    """`url` fit to print: a password in it, or in its query, becomes `***` (health output
    lands in container logs and CI output).

    >>> redacted_url("redis://app:s3cret@cache:6379/0?password=s3cret&db=1")
    'redis://app:***@cache:6379/0?password=***&db=1'
    """
    return _QUERY_SECRET.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))


_SECRET_PROPERTY = re.compile(r"password|secret|token|jaas|\.pem$|oauthbearer\.config", re.I)


def is_secret_property(name: str) -> bool:
    """Whether a librdkafka property holds a secret (`sasl.password`, `ssl.key.pem`, ...)."""
    return _SECRET_PROPERTY.search(name) is not None
