"""Tests of agent.bigpanda (alert contract, body shapes, response classes) and agent.transport."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent import USER_AGENT
from agent.bigpanda import (
    MAX_DESCRIPTION_CHARS,
    TRUNCATION_MARKER,
    DeliveryResult,
    alert_overhead,
    body_overhead,
    build_body,
    classify,
    encode_alert,
    split_body,
    validate_alert,
)
from agent.errors import AlertInvalid, RetryableDeliveryError
from agent.mock_api import Fault, MockAlertsApi
from agent.transport import Urllib3Client, https_proxy_for, parse_retry_after

TOKEN = "s3cret-token-value"
APP_KEY = "app-key-1"


def make_alert(**fields: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {"status": "critical", "host": "web-03", "check": "nginx-timeout",
                             "timestamp": 1_718_000_000, "description": "upstream timed out"}
    alert.update(fields)
    return {k: v for k, v in alert.items() if v is not ...}


# -- validate_alert -------------------------------------------------------------------


def test_valid_alert_is_returned_unchanged_and_identical() -> None:
    """A contract-conforming alert comes back as the very same, unchanged dict."""
    alert = make_alert(tags=["a", 1])
    copy = dict(alert)
    assert validate_alert(alert) is alert
    assert alert == copy


@pytest.mark.parametrize("status", ["ok", "warning", "critical", "unknown", "acknowledged"])
def test_each_documented_status_is_accepted(status: str) -> None:
    """Each of the five lowercase statuses of section 1 passes validation."""
    assert validate_alert(make_alert(status=status))["status"] == status


@pytest.mark.parametrize("status", ["CRITICAL", "fatal", "", None, 1, ["ok"], ...])
def test_bad_or_missing_status_is_invalid(status: object) -> None:
    """A status that is missing, not a string or not one of the five values is refused."""
    with pytest.raises(AlertInvalid, match="status"):
        validate_alert(make_alert(status=status))


@pytest.mark.parametrize("timestamp", [..., 1.5, -1, 10**11 + 1, 1_718_000_000_000, True, "1"])
def test_bad_or_missing_timestamp_is_invalid(timestamp: object) -> None:
    """A timestamp that is missing, not an int, negative or in milliseconds is refused."""
    with pytest.raises(AlertInvalid, match="timestamp"):
        validate_alert(make_alert(timestamp=timestamp))


@pytest.mark.parametrize("timestamp", [0, 10**11])
def test_timestamp_bounds_are_inclusive(timestamp: int) -> None:
    """Timestamps 0 and 10^11 are both still accepted."""
    validate_alert(make_alert(timestamp=timestamp))


def test_alert_without_any_primary_candidate_is_invalid() -> None:
    """An alert with none of host/service/application/device is refused."""
    with pytest.raises(AlertInvalid, match="primary"):
        validate_alert(make_alert(host=...))


@pytest.mark.parametrize("field", ["service", "application", "device"])
def test_any_primary_candidate_suffices(field: str) -> None:
    """Service, application or device stand in for host as the primary property."""
    validate_alert(make_alert(host=..., **{field: "x"}))


@pytest.mark.parametrize("value", ["", None, []])
def test_empty_first_candidate_is_invalid_even_with_later_ones(value: object) -> None:
    """The primary is the first present candidate; empty host with a service is refused."""
    with pytest.raises(AlertInvalid, match="empty"):
        validate_alert(make_alert(host=value, service="checkout"))


def test_primary_property_must_name_a_present_field() -> None:
    """primary_property naming an absent field is refused."""
    with pytest.raises(AlertInvalid, match="primary_property"):
        validate_alert(make_alert(primary_property="cluster"))


def test_primary_property_overrides_candidates() -> None:
    """primary_property naming a present, non-empty custom field is accepted without host."""
    validate_alert(make_alert(host=..., primary_property="cluster", cluster="eu-1"))


def test_secondary_property_must_name_a_present_field() -> None:
    """secondary_property naming an absent field is refused."""
    with pytest.raises(AlertInvalid, match="secondary_property"):
        validate_alert(make_alert(secondary_property="sensor"))


@pytest.mark.parametrize("value", [{"a": 1}, ["x", {"a": 1}], ["x", ["y"]]])
def test_nested_objects_are_invalid(value: object) -> None:
    """Object values, and lists holding objects or lists, are refused."""
    with pytest.raises(AlertInvalid, match="nested"):
        validate_alert(make_alert(extra=value))


def test_unsupported_value_type_is_invalid() -> None:
    """A value of a type JSON cannot carry as a tag (bytes) is refused."""
    with pytest.raises(AlertInvalid, match="unsupported"):
        validate_alert(make_alert(extra=b"raw"))


def test_app_key_on_an_alert_is_invalid() -> None:
    """An alert may not carry app_key: the body builder adds it."""
    with pytest.raises(AlertInvalid, match="app_key"):
        validate_alert(make_alert(app_key="other"))


def test_lists_are_capped_at_15_items() -> None:
    """A list of 20 scalars keeps its first 15 items."""
    alert = validate_alert(make_alert(tags=list(range(20)), names=tuple("abc")))
    assert alert["tags"] == list(range(15))
    assert alert["names"] == ["a", "b", "c"]


def test_booleans_floats_and_nulls_are_normalised() -> None:
    """Booleans and floats become strings and None values are dropped (section 1)."""
    alert = validate_alert(make_alert(up=True, ratio=0.5, gone=None, mix=[False, 2.0, None, "s"]))
    assert alert["up"] == "true" and alert["ratio"] == "0.5" and "gone" not in alert
    assert alert["mix"] == ["false", "2.0", "s"]


def test_long_description_is_truncated_keeping_the_start() -> None:
    """A 3000-character description becomes 2048 characters: its start plus the marker."""
    text = "".join(chr(ord("a") + i % 26) for i in range(3000))
    alert = validate_alert(make_alert(description=text))
    assert len(alert["description"]) == MAX_DESCRIPTION_CHARS
    assert alert["description"].endswith(TRUNCATION_MARKER)
    assert text.startswith(alert["description"][: -len(TRUNCATION_MARKER)])


def test_description_at_the_limit_is_untouched() -> None:
    """A description of exactly 2048 characters is left as it is."""
    text = "x" * MAX_DESCRIPTION_CHARS
    assert validate_alert(make_alert(description=text))["description"] == text


def test_non_string_description_is_invalid() -> None:
    """A description that is not a string is refused."""
    with pytest.raises(AlertInvalid, match="description"):
        validate_alert(make_alert(description=42))


# -- encoding and bodies --------------------------------------------------------------


def test_encode_alert_is_compact_json() -> None:
    """encode_alert yields compact UTF-8 JSON that decodes to the same alert."""
    alert = make_alert(description="é ü")
    data = encode_alert(alert)
    assert orjson.loads(data) == alert and b" " not in data.replace(b"\xc3\xa9 \xc3\xbc", b"")


def test_encode_alert_reports_unencodable_alerts_as_invalid() -> None:
    """An alert orjson cannot encode (a non-string key) is AlertInvalid."""
    with pytest.raises(AlertInvalid, match="encode"):
        encode_alert({1: "x"})  # type: ignore[dict-item]


def encoded(n: int) -> list[bytes]:
    return [encode_alert(make_alert(host=f"h{i}")) for i in range(n)]


def test_envelope_body_shape() -> None:
    """The envelope body is {"app_key": K, "alerts": [...]} with the alerts in order."""
    doc = orjson.loads(build_body(encoded(3), app_key=APP_KEY, batch_format="envelope"))
    assert list(doc) == ["app_key", "alerts"] and doc["app_key"] == APP_KEY
    assert [a["host"] for a in doc["alerts"]] == ["h0", "h1", "h2"]


def test_array_body_shape() -> None:
    """The array body is a list of alerts, each opening with its own app_key."""
    doc = orjson.loads(build_body(encoded(2), app_key='k"\\é', batch_format="array"))
    assert [next(iter(a)) for a in doc] == ["app_key", "app_key"]
    assert [(a["app_key"], a["host"]) for a in doc] == [('k"\\é', "h0"), ('k"\\é', "h1")]


def test_build_body_refuses_no_alerts_and_unknown_formats() -> None:
    """An empty alert list or an unknown batch_format is a ValueError."""
    with pytest.raises(ValueError):
        build_body([], app_key=APP_KEY, batch_format="envelope")
    with pytest.raises(ValueError):
        build_body(encoded(1), app_key=APP_KEY, batch_format="ndjson")


_text = st.text(max_size=20)
_alerts = st.lists(
    st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k != "app_key"),
                    _text | st.integers(-(2**63), 2**63 - 1) | st.lists(_text, max_size=3),
                    max_size=5).map(lambda d: {"status": "ok", **d}),
    min_size=1, max_size=8)


@given(alerts=_alerts, app_key=_text, batch_format=st.sampled_from(["envelope", "array"]))
def test_split_inverts_build_and_size_formula_is_exact(
        alerts: list[dict[str, Any]], app_key: str, batch_format: str) -> None:
    """split_body(build_body(a)) == a, and the body size matches the overhead formula."""
    parts = [encode_alert(a) for a in alerts]
    body = build_body(parts, app_key=app_key, batch_format=batch_format)
    assert split_body(body, batch_format=batch_format) == parts
    per_alert = alert_overhead(app_key, batch_format)
    expected = body_overhead(app_key, batch_format) + sum(len(p) + per_alert for p in parts)
    assert len(body) == expected + len(parts) - 1


def test_split_body_reads_the_shape_from_the_body() -> None:
    """A body of the other shape, or a single alert object, still splits."""
    parts = encoded(2)
    array = build_body(parts, app_key=APP_KEY, batch_format="array")
    assert split_body(array, batch_format="envelope") == parts
    assert split_body(parts[0]) == parts[:1]


@pytest.mark.parametrize("body", [b"not json", b"42", b'{"alerts": 3}', b"[1, 2]"])
def test_split_body_refuses_non_alert_bodies(body: bytes) -> None:
    """A body that is not JSON or not an alerts shape is a ValueError."""
    with pytest.raises(ValueError):
        split_body(body)


# -- classes and headers --------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [
    (200, "ok"), (201, "ok"), (202, "ok"), (204, "ok"),
    (400, "reject"), (413, "reject"), (422, "reject"),
    (401, "pause"), (403, "pause"), (404, "pause"), (405, "pause"), (501, "pause"),
    (408, "retry"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"),
    (504, "retry"), (599, "retry"), (301, "retry"), (302, "retry"), (409, "retry"),
    (418, "retry"), (100, "retry"),
])
def test_classify_follows_section_2(status: int, kind: str) -> None:
    """Every status maps to the class section 2 prescribes; unexpected codes retry."""
    assert classify(DeliveryResult(status=status)) == kind


def test_retry_after_delta_seconds_and_http_date() -> None:
    """Retry-After is read as delta-seconds or as an HTTP-date; junk and absence are None."""
    assert parse_retry_after("7") == 7.0
    assert 55 <= (parse_retry_after(formatdate(__import__("time").time() + 60, usegmt=True))
                  or 0) <= 60
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_https_proxy_selection() -> None:
    """HTTPS_PROXY applies to https endpoints only, unless NO_PROXY matches the host."""
    env = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "internal.example, .corp"}
    assert https_proxy_for("https://api.bigpanda.io/data/v2/alerts", env) == "http://proxy:3128"
    assert https_proxy_for("http://127.0.0.1:1/data/v2/alerts", env) is None
    assert https_proxy_for("https://internal.example/x", env) is None
    assert https_proxy_for("https://api.corp/x", env) is None
    assert https_proxy_for("https://api.bigpanda.io/x", {}) is None


def test_client_uses_a_proxy_manager_with_credentials_when_configured() -> None:
    """With https_proxy set the client goes through a ProxyManager with Proxy-Authorization."""
    client = Urllib3Client("https://api.bigpanda.io/data/v2/alerts", TOKEN,
                           environ={"https_proxy": "http://u:p%40ss@proxy:3128"})
    try:
        assert client._pool.proxy_headers["proxy-authorization"].startswith("Basic ")  # type: ignore[attr-defined]
        assert client._scrub("http://u:p%40ss@proxy failed") == "http://***@proxy failed"
    finally:
        client.close()


def test_client_verifies_tls_with_optional_ca_file() -> None:
    """Certificates are required, and ca_file replaces the system trust store."""
    client = Urllib3Client("https://api.bigpanda.io/data/v2/alerts", TOKEN, ca_file="/x/ca.pem",
                           environ={})
    try:
        assert client._pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
        assert client._pool.connection_pool_kw["ca_certs"] == "/x/ca.pem"
        assert client._pool.connection_pool_kw["retries"].total is False
    finally:
        client.close()


# -- the client against the API double ------------------------------------------------


@pytest.fixture
def api() -> Iterator[MockAlertsApi]:
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as server:
        yield server


@pytest.fixture
def client(api: MockAlertsApi) -> Iterator[Urllib3Client]:
    c = Urllib3Client(api.endpoint, TOKEN, timeout_s=2.0, connect_timeout_s=2.0, environ={})
    yield c
    c.close()


def body_of(n: int = 1) -> bytes:
    return build_body(encoded(n), app_key=APP_KEY, batch_format="envelope")


def test_send_delivers_with_the_contract_headers(api: MockAlertsApi,
                                                 client: Urllib3Client) -> None:
    """A POST carries Bearer token, JSON content type and accept, and the agent's User-Agent."""
    result = client.send(body_of(2))
    assert result.status == 201 and result.duration_s > 0
    headers = api.requests[-1].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert len(api.alerts) == 2


def test_resend_of_identical_bytes_is_a_204(client: Urllib3Client) -> None:
    """Sending the same body twice yields 201 then 204 over one pooled connection."""
    body = body_of(1)
    assert [client.send(body).status, client.send(body).status] == [201, 204]


def test_retry_after_header_is_parsed(api: MockAlertsApi, client: Urllib3Client) -> None:
    """A 429 with Retry-After: 3 gives retry_after_s 3.0 and keeps the error body."""
    api.add_fault(Fault(status=429, count=1, retry_after="3"))
    result = client.send(body_of())
    assert (result.status, result.retry_after_s) == (429, 3.0)
    assert b"injected" in result.body


def test_set_token_applies_to_the_next_request(api: MockAlertsApi,
                                               client: Urllib3Client) -> None:
    """After set_token the new token is sent; the old one gets 401 once revoked."""
    api.set_tokens(["new-token"])
    assert client.send(body_of()).status == 401
    client.set_token("new-token")
    assert client.send(body_of()).status == 201


def test_set_token_rejects_header_breaking_tokens_without_echoing() -> None:
    """A token with a newline is refused and the message does not contain it."""
    with pytest.raises(ValueError) as info:
        Urllib3Client("http://127.0.0.1:1/data/v2/alerts", "abc\ninjected", environ={})
    assert "injected" not in str(info.value)


def test_connection_refused_is_retryable_and_token_free() -> None:
    """A refused connection raises RetryableDeliveryError; no message or repr has the token."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Urllib3Client(f"http://127.0.0.1:{port}/data/v2/alerts", TOKEN, environ={})
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            client.send(body_of())
        assert info.value.status is None
        assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
        assert TOKEN not in repr(client)
    finally:
        client.close()


@pytest.mark.parametrize("fault", [Fault(drop="before_response", count=1),
                                   Fault(latency_s=2.0, count=1)])
def test_dropped_or_slow_answers_are_retryable(api: MockAlertsApi, fault: Fault) -> None:
    """A closed connection or an answer slower than the read timeout is retryable."""
    api.add_fault(fault)
    client = Urllib3Client(api.endpoint, TOKEN, timeout_s=0.3, environ={})
    try:
        with pytest.raises(RetryableDeliveryError):
            client.send(body_of())
    finally:
        client.close()


class _Created(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(("127.0.0.1", 0), _Created)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/data/v2/alerts", cert
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_tls_is_verified_against_the_trust_store_or_ca_file(
        tls_server: tuple[str, Path]) -> None:
    """A self-signed server fails verification by default and passes with it as ca_file."""
    endpoint, cert = tls_server
    untrusting = Urllib3Client(endpoint, TOKEN, timeout_s=2.0, environ={})
    trusting = Urllib3Client(endpoint, TOKEN, timeout_s=2.0, ca_file=cert, environ={})
    try:
        with pytest.raises(RetryableDeliveryError, match=r"SSL|certificate"):
            untrusting.send(body_of())
        assert trusting.send(body_of()).status == 201
    finally:
        untrusting.close()
        trusting.close()


def test_rule_alert_fast_path_truncates_long_description() -> None:
    """validate_rule_alert cuts a description over 2048 characters, keeping its start."""
    from agent.bigpanda import TRUNCATION_MARKER, validate_rule_alert

    alert = validate_rule_alert({"status": "critical", "host": "h", "timestamp": 1,
                                 "description": "x" * 5000})
    assert len(alert["description"]) == 2048
    assert alert["description"].endswith(TRUNCATION_MARKER)


def test_rule_alert_fast_path_rejects_empty_host() -> None:
    """validate_rule_alert refuses an alert whose only primary property is empty."""
    from agent.bigpanda import validate_rule_alert

    with pytest.raises(AlertInvalid):
        validate_rule_alert({"status": "critical", "host": "", "timestamp": 1})


def test_rule_alert_fast_path_rejects_bad_status() -> None:
    """validate_rule_alert refuses a status outside BigPanda's five."""
    from agent.bigpanda import validate_rule_alert

    with pytest.raises(AlertInvalid):
        validate_rule_alert({"status": "fatal", "host": "h", "timestamp": 1})
