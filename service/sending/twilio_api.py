"""The Twilio SDK client, built from the settings, on an HTTP client of HandsUp's own.

``PooledHttpClient`` is the SDK's ``HttpClient`` on a urllib3 pool: the SDK's default client
prepares every request through a ``requests`` session (hooks, cookies, environment settings,
adapters), which cost about 40 % of a send's CPU in the worker (``bench.broadcast``, issue 18).
It keeps what the worker relies on: keep-alive connections, one timeout for connecting and one
for reading, the environment's proxy for each host (read once per host, as ``requests`` would
choose it) and ``TWILIO_API_BASE_URL``, which rebases every request (``api.twilio.com``,
``content.twilio.com``...) onto one host, so tests and benchmarks can point the SDK at a fake
Twilio server on loopback. A request that fails on the network raises ``NetworkError``, which
says whether it may have reached Twilio.

Imports the Twilio SDK, urllib3, ``requests.utils`` (the proxy rules) and ``service.config``.
"""

from __future__ import annotations

import json
import logging
from base64 import b64encode
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3
from requests.utils import get_environ_proxies, select_proxy
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, HTTPError

from service.config import Settings

API_TIMEOUT = 10.0  # seconds, to connect and again to read the answer
JSON_TYPES = ("application/json", "application/scim+json")

_logger = logging.getLogger("twilio.http_client")  # the SDK's own client logs here too


class NetworkError(OSError):
    """A request that got no answer. ``may_have_arrived`` is False only when no connection was
    made (refused, unresolvable, connect timeout): then Twilio cannot have accepted it."""

    def __init__(self, message: str, *, may_have_arrived: bool) -> None:
        super().__init__(message)
        self.may_have_arrived = may_have_arrived


class PooledHttpClient(HttpClient):
    """The Twilio SDK's HTTP client on urllib3 connection pools (see the module's docstring).

    Not shared between threads by HandsUp (the worker gives each send thread its own client),
    though urllib3's pools would allow it."""

    def __init__(
        self, *, base_url: str | None = None, timeout: float = API_TIMEOUT, maxsize: int = 1
    ) -> None:
        super().__init__(_logger, False, timeout)
        self._base = urlsplit(base_url) if base_url else None
        self._maxsize = maxsize
        self._direct = urllib3.PoolManager(maxsize=maxsize, retries=False)
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._proxy_of_host: dict[tuple[str, str], str | None] = {}
        self._authorization: dict[tuple[str, str], str] = {}

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        url = self._rebased(uri)
        if params:
            url += ("&" if "?" in url else "?") + _form(params)
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = self._basic(auth)
        body: str | None = None
        if sent_headers.get("Content-Type") in JSON_TYPES:
            body = None if data is None else json.dumps(data)
        elif data:  # an empty form is no body, as with ``requests``
            body = _form(data)
            sent_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request({"method": method, "url": url, "params": None, "headers": headers})
        seconds = timeout or self.timeout or API_TIMEOUT
        try:
            answer = self._pool_for(url).request(
                method.upper(),
                url,
                body=body,
                headers=sent_headers,
                redirect=allow_redirects,
                timeout=urllib3.Timeout(connect=seconds, read=seconds),
            )
        except ConnectTimeoutError as exc:  # also refused and unresolvable: no connection
            raise NetworkError(f"{type(exc).__name__}: {exc}", may_have_arrived=False) from exc
        except (HTTPError, OSError) as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc}", may_have_arrived=True) from exc
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(answer.status, answer)
        response = Response(answer.status, answer.data.decode("utf-8", "replace"), answer.headers)
        self._test_only_last_response = response
        return response

    def close(self) -> None:
        """Close every pooled connection (they are opened again on the next request)."""
        self._direct.clear()
        for manager in self._proxied.values():
            manager.clear()

    def _rebased(self, uri: str) -> str:
        if self._base is None:
            return uri
        parts = urlsplit(uri)
        return urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, ""))

    def _basic(self, auth: tuple[str, str]) -> str:
        header = self._authorization.get(auth)
        if header is None:
            token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            header = self._authorization[auth] = f"Basic {token}"
        return header

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        """The direct pool, or the pool of the proxy the environment names for this host
        (``HTTPS_PROXY``, ``NO_PROXY``...), looked up once per host."""
        parts = urlsplit(url)
        host = (parts.scheme, parts.netloc)
        if host not in self._proxy_of_host:
            self._proxy_of_host[host] = select_proxy(url, get_environ_proxies(url))
        proxy = self._proxy_of_host[host]
        if proxy is None:
            return self._direct
        if proxy not in self._proxied:
            self._proxied[proxy] = urllib3.ProxyManager(proxy, maxsize=self._maxsize, retries=False)
        return self._proxied[proxy]


def _form(values: dict[str, object]) -> str:
    """Form-encode as the SDK's default client does: a list is a repeated key, None is left
    out."""
    pairs: list[tuple[str, object]] = []
    for key, value in values.items():
        if isinstance(value, list | tuple):
            pairs.extend((key, item) for item in value if item is not None)
        elif value is not None:
            pairs.append((key, value))
    return urlencode(pairs)


def twilio_client(settings: Settings, timeout: float = API_TIMEOUT) -> Client:
    """A client for the account in ``settings`` (rebased when ``TWILIO_API_BASE_URL`` is set)."""
    http_client = PooledHttpClient(base_url=settings.twilio_api_base_url, timeout=timeout)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)
