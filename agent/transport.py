"""The HTTP transport to the Alerts API: pooled urllib3 connections, proxy, ``Retry-After``.

:class:`Urllib3Client` is the production :class:`~agent.bigpanda.AlertsClient`:
one POST per call, ``retries=False``, so the shipper stays the one retry layer
(urllib3's ``Retry`` is used only to read ``Retry-After``, as sentry-python
does). What a body holds and what a status means is :mod:`agent.bigpanda`'s
business; this module only moves bytes and keeps the token out of messages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, InvalidHeader
from urllib3.util import Retry, Timeout, make_headers

from agent import USER_AGENT
from agent.bigpanda import RESPONSE_HEAD_BYTES, DeliveryResult
from agent.errors import RetryableDeliveryError

if TYPE_CHECKING:
    from agent.config import BigPandaConfig

_RETRY_AFTER = Retry(0)


class Urllib3Client:
    """POSTs bodies to the Alerts API over pooled keep-alive connections.

    ``retries=False`` and no redirects: the shipper is the one retry layer.
    TLS is verified against the system trust store, or ``ca_file`` when set.
    For an https endpoint, ``https_proxy``/``HTTPS_PROXY`` is honoured unless
    ``no_proxy``/``NO_PROXY`` matches the host. The token is kept out of every
    repr, log line and exception message.

    Args:
        endpoint: the full alerts URL (``…/data/v2/alerts``).
        token: the org token, sent as ``Authorization: Bearer``.
        timeout_s: read timeout, seconds, per socket read: it does not bound the
            whole request (a server sending one byte every 9 s never trips 10 s).
        connect_timeout_s: TCP/TLS connect timeout, seconds.
        ca_file: PEM bundle replacing the system trust store.
        user_agent: ``User-Agent`` header.
        environ: where proxy variables are read (default ``os.environ``).
    """

    def __init__(self, endpoint: str, token: str, *, timeout_s: float = 30.0,
                 connect_timeout_s: float = 10.0, ca_file: str | Path | None = None,
                 user_agent: str = USER_AGENT, environ: Mapping[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self._user_agent = user_agent
        self._token = ""
        self._headers: dict[str, str] = {}
        self.set_token(token)
        pool_kw: dict[str, Any] = {
            "num_pools": 4, "maxsize": 4, "retries": False,
            "timeout": Timeout(connect=connect_timeout_s, read=timeout_s),
            "cert_reqs": "CERT_REQUIRED", "ca_certs": str(ca_file) if ca_file else None,
        }
        proxy = https_proxy_for(endpoint, environ)
        self._proxy_auth = (urllib3.util.parse_url(proxy).auth or "") if proxy else ""
        self._pool = _proxy_manager(proxy, pool_kw) if proxy else urllib3.PoolManager(**pool_kw)

    @classmethod
    def from_config(cls, config: BigPandaConfig, token: str) -> Urllib3Client:
        """A client for the ``[bigpanda]`` table."""
        return cls(config.endpoint, token, timeout_s=config.timeout_s,
                   connect_timeout_s=config.connect_timeout_s, ca_file=config.ca_file)

    def __repr__(self) -> str:
        return f"Urllib3Client(endpoint={self.endpoint!r})"

    def set_token(self, token: str) -> None:
        """Use ``token`` from the next request on (token file reload).

        Raises:
            ValueError: the token has characters an HTTP header cannot carry (not echoed).
        """
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise ValueError("token must be non-empty printable ASCII without spaces")
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                         "Accept": "application/json", "User-Agent": self._user_agent}

    def send(self, body: bytes) -> DeliveryResult:
        """POST ``body`` once.

        Returns:
            The answer, whatever its status.

        Raises:
            RetryableDeliveryError: connection refused or reset, DNS, TLS, proxy or
                timeout failure (the body may or may not have landed).
        """
        start = time.monotonic()
        try:
            response = self._pool.request("POST", self.endpoint, body=body, headers=self._headers,
                                          redirect=False, preload_content=False)
            try:
                head = response.read(RESPONSE_HEAD_BYTES)
                response.drain_conn()
            finally:
                response.release_conn()
        except (HTTPError, HTTPException, OSError) as exc:
            raise RetryableDeliveryError(self._scrub(f"{type(exc).__name__}: {exc}")) from exc
        return DeliveryResult(status=response.status, body=head,
                              retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
                              duration_s=time.monotonic() - start)

    def _scrub(self, text: str) -> str:
        """``text`` with the token and proxy credentials replaced by ``***``."""
        for secret in (self._token, self._proxy_auth):
            if secret:
                text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` (delta-seconds or HTTP-date) in seconds ≥ 0; ``None`` if absent/invalid."""
    if not value:
        return None
    try:
        return float(_RETRY_AFTER.parse_retry_after(value))
    except InvalidHeader:
        return None


def https_proxy_for(endpoint: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL for an https ``endpoint`` from ``https_proxy``/``HTTPS_PROXY``, or ``None``.

    ``no_proxy``/``NO_PROXY`` (comma-separated hosts or domain suffixes, ``*``) bypasses it.
    """
    env = os.environ if environ is None else environ
    parts = urlsplit(endpoint)
    proxy = env.get("https_proxy") or env.get("HTTPS_PROXY")
    if parts.scheme != "https" or not proxy:
        return None
    host = (parts.hostname or "").lower()
    for entry in (env.get("no_proxy") or env.get("NO_PROXY") or "").lower().split(","):
        entry = entry.strip().lstrip(".").split(":")[0]
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return None
    return proxy


def _proxy_manager(proxy: str, pool_kw: dict[str, Any]) -> urllib3.ProxyManager:
    """A ProxyManager; credentials in the proxy URL become ``Proxy-Authorization``."""
    auth = urllib3.util.parse_url(proxy).auth
    headers = make_headers(proxy_basic_auth=unquote(auth)) if auth else None
    return urllib3.ProxyManager(proxy, proxy_headers=headers, **pool_kw)
