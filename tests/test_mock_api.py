"""Tests of agent.mock_api: the Alerts API double, over real loopback HTTP."""

from __future__ import annotations

import argparse
import gzip
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from agent.mock_api import Fault, MockAlertsApi
from agent.mock_api_cli import configure_parser, run_from_args

TOKEN = "tok-mock"
APP_KEY = "app-mock"
ROOT = Path(__file__).resolve().parents[1]
STATUS_ERROR = "status missing or not one of ok, critical, warning, unknown, acknowledged"

MakeApi = Callable[..., MockAlertsApi]
Response = urllib3.BaseHTTPResponse


def alert(**fields: Any) -> dict[str, Any]:
    """A valid alert; a field given as ``None`` is left out."""
    base = {"status": "critical", "host": "web-1", "check": "disk", "timestamp": 1_718_000_000}
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


def envelope(*alerts: dict[str, Any], app_key: str | None = APP_KEY) -> bytes:
    doc: dict[str, Any] = {"alerts": list(alerts)}
    if app_key is not None:
        doc["app_key"] = app_key
    return orjson.dumps(doc)


def error(resp: Response) -> str:
    return str(orjson.loads(resp.data)["error"])


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5)) as p:
        yield p


@pytest.fixture
def make_api() -> Iterator[MakeApi]:
    started: list[MockAlertsApi] = []

    def make(**kwargs: Any) -> MockAlertsApi:
        kwargs.setdefault("tokens", [TOKEN])
        kwargs.setdefault("app_keys", [APP_KEY])
        started.append(MockAlertsApi(**kwargs).start())
        return started[-1]

    yield make
    for api in started:
        api.stop()


@pytest.fixture
def api(make_api: MakeApi) -> MockAlertsApi:
    return make_api()


def post(pool: urllib3.PoolManager, api: MockAlertsApi, body: bytes, *,
         token: str | None = TOKEN, headers: dict[str, str] | None = None,
         path: str | None = None) -> Response:
    sent = {"Content-Type": "application/json"}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    url = api.endpoint if path is None else api.url + path
    return pool.request("POST", url, body=body, headers=sent)


# -- rows 1-8: the request ------------------------------------------------------


def test_row1_unknown_path_is_404(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """A POST to any path but /data/v2/alerts answers 404 {"error":"not found"}."""
    resp = post(pool, api, envelope(alert()), path="/data/v1/alerts")
    assert (resp.status, error(resp)) == (404, "not found")


def test_row2_other_methods_are_501(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """GET, PUT and made-up methods on the alerts path answer 501; a wrong path still wins."""
    for method in ("GET", "PUT", "DELETE", "FROB"):
        resp = pool.request(method, api.endpoint, headers={"Authorization": f"Bearer {TOKEN}"})
        assert (resp.status, error(resp)) == (501, "unsupported method")
    assert pool.request("GET", api.url + "/elsewhere").status == 404


@pytest.mark.parametrize("authorization", [None, f"Basic {TOKEN}", "Bearer", "Bearer nope"])
def test_row3_bad_authorization_is_401(api: MockAlertsApi, pool: urllib3.PoolManager,
                                       authorization: str | None) -> None:
    """A missing, non-Bearer, empty or unknown token answers 401 {"error":"unauthorized"}."""
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = post(pool, api, envelope(alert()), token=None, headers=headers)
    assert (resp.status, error(resp)) == (401, "unauthorized")
    assert api.alerts == []


def test_row4_forbidden_token_is_403(make_api: MakeApi, pool: urllib3.PoolManager) -> None:
    """A token in the forbidden set answers 403 even though it is not in the accepted set."""
    api = make_api(forbidden_tokens=["revoked"])
    resp = post(pool, api, envelope(alert()), token="revoked")
    assert (resp.status, error(resp)) == (403, "forbidden")


def test_row5_body_over_limit_is_413(make_api: MakeApi, pool: urllib3.PoolManager) -> None:
    """A body over max_body_bytes answers 413 and the keep-alive connection stays usable."""
    api = make_api(max_body_bytes=300)
    big = envelope(*[alert(timestamp=1_718_000_000 + i) for i in range(10)])
    resp = post(pool, api, big)
    assert (resp.status, error(resp)) == (413, "payload too large")
    assert post(pool, api, envelope(alert())).status == 201
    assert api.requests[0].body == b""


def test_row5_limit_counts_after_decompression(make_api: MakeApi,
                                               pool: urllib3.PoolManager) -> None:
    """With gzip on, a small compressed body that inflates past the limit answers 413."""
    api = make_api(gzip=True, max_body_bytes=2_000)
    body = gzip.compress(envelope(*[alert(timestamp=1_718_000_000 + i) for i in range(100)]))
    assert len(body) < 2_000
    resp = post(pool, api, body, headers={"Content-Encoding": "gzip"})
    assert (resp.status, error(resp)) == (413, "payload too large")


def test_row6_gzip_while_off_is_400(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """Content-Encoding: gzip answers 400 unsupported encoding while gzip is off (default)."""
    resp = post(pool, api, gzip.compress(envelope(alert())), headers={"Content-Encoding": "gzip"})
    assert (resp.status, error(resp)) == (400, "unsupported encoding")


def test_gzip_body_is_accepted_when_on(make_api: MakeApi, pool: urllib3.PoolManager) -> None:
    """With gzip on, a gzip body is inflated, checked and stored."""
    api = make_api(gzip=True)
    resp = post(pool, api, gzip.compress(envelope(alert())), headers={"Content-Encoding": "gzip"})
    assert resp.status == 201
    assert api.alerts == [alert(app_key=APP_KEY)]


@pytest.mark.parametrize("body", [b"{", b'"\xff"', b"42", b'"text"', b"[1, 2]",
                                  b'[{"status": "ok"}, 3]', b""])
def test_row7_invalid_json_is_400(api: MockAlertsApi, pool: urllib3.PoolManager,
                                  body: bytes) -> None:
    """Broken JSON, bad UTF-8 and a top level other than object/array of objects answer 400."""
    resp = post(pool, api, body)
    assert (resp.status, error(resp)) == (400, "invalid json")


def test_row7_bare_array_accepted_unless_strict(make_api: MakeApi,
                                                pool: urllib3.PoolManager) -> None:
    """A bare array of alerts carrying their own app_key is accepted; strict_array rejects it."""
    body = orjson.dumps([alert(app_key=APP_KEY), alert(host="web-2", app_key=APP_KEY)])
    lenient, strict = make_api(), make_api(strict_array=True)
    assert post(pool, lenient, body).status == 201
    assert len(lenient.alerts) == 2
    resp = post(pool, strict, body)
    assert (resp.status, error(resp)) == (400, "invalid json")


@pytest.mark.parametrize("alerts", [[], {}, "x", None, [1]])
def test_row8_alerts_must_be_non_empty_array(api: MockAlertsApi, pool: urllib3.PoolManager,
                                             alerts: Any) -> None:
    """An envelope whose alerts is empty, not a list, or holds non-objects answers 400."""
    resp = post(pool, api, orjson.dumps({"app_key": APP_KEY, "alerts": alerts}))
    assert (resp.status, error(resp)) == (400, "alerts must be a non-empty array")


# -- rows 9-14: each alert --------------------------------------------------------


def test_row9_missing_or_unknown_app_key_is_400(api: MockAlertsApi,
                                                pool: urllib3.PoolManager) -> None:
    """No app key anywhere, or one not configured, answers 400 naming the alert."""
    resp = post(pool, api, envelope(alert(), app_key=None))
    assert (resp.status, error(resp)) == (400, "alert 1: invalid app_key")
    resp = post(pool, api, envelope(alert(), alert(app_key="other")))
    assert (resp.status, error(resp)) == (400, "alert 2: invalid app_key")


@pytest.mark.parametrize("status", [None, "CRITICAL", "error", 1, ["ok"]])
def test_row10_bad_status_is_400(api: MockAlertsApi, pool: urllib3.PoolManager,
                                 status: Any) -> None:
    """A missing, upper-case, unknown or non-string status answers 400 with the alert index."""
    resp = post(pool, api, envelope(alert(), alert(status=status)))
    body = {"error": f"alert 2: {STATUS_ERROR}"}
    assert (resp.status, orjson.loads(resp.data)) == (400, body)


@pytest.mark.parametrize("fields", [
    {"host": None},
    {"host": ""},
    {"host": None, "primary_property": "node"},
    {"host": None, "service": []},
])
def test_row11_missing_primary_property_is_400(api: MockAlertsApi, pool: urllib3.PoolManager,
                                               fields: dict[str, Any]) -> None:
    """No resolvable primary property, or an empty one, answers 400."""
    resp = post(pool, api, envelope(alert(**fields)))
    assert (resp.status, error(resp)) == (400, "alert 1: missing primary property")


def test_row11_named_primary_falls_back_to_defaults(api: MockAlertsApi,
                                                    pool: urllib3.PoolManager) -> None:
    """A primary_property naming an absent field is fine while host/service/... is present."""
    assert post(pool, api, envelope(alert(primary_property="node"))).status == 201
    assert post(pool, api, envelope(alert(host=None, device="sw-1"))).status == 201


@pytest.mark.parametrize("timestamp", [1_718_000_000.5, "1718000000", -1, 1_718_000_000_000,
                                       True, [1]])
def test_row12_bad_timestamp_is_400(api: MockAlertsApi, pool: urllib3.PoolManager,
                                    timestamp: Any) -> None:
    """A float, string, negative, millisecond or boolean timestamp answers 400."""
    resp = post(pool, api, envelope(alert(timestamp=timestamp)))
    assert (resp.status, error(resp)) == (400, "alert 1: timestamp must be integer Unix seconds "
                                                "(UTC)")


def test_row12_missing_timestamp_is_accepted(api: MockAlertsApi,
                                             pool: urllib3.PoolManager) -> None:
    """An alert without timestamp passes (BigPanda uses the receipt time)."""
    assert post(pool, api, envelope(alert(timestamp=None))).status == 201


@pytest.mark.parametrize("value", [{"a": 1}, ["x", {"a": 1}], [["x", {"a": 1}]]])
def test_row13_nested_objects_are_400(api: MockAlertsApi, pool: urllib3.PoolManager,
                                      value: Any) -> None:
    """An object value, or a list holding one, answers 400; braces inside strings do not."""
    resp = post(pool, api, envelope(alert(tags=value)))
    assert (resp.status, error(resp)) == (400, "alert 1: nested objects are not supported")
    assert post(pool, api, envelope(alert(description='{"json": {"in": "text"}}'))).status == 201


def test_row14_long_description_is_400_when_strict(api: MockAlertsApi,
                                                   pool: urllib3.PoolManager) -> None:
    """By default a 2049-character description answers 400; 2048 characters pass."""
    resp = post(pool, api, envelope(alert(description="x" * 2049)))
    assert (resp.status, error(resp)) == (400, "alert 1: description too long")
    assert post(pool, api, envelope(alert(description="x" * 2048))).status == 201


def test_row14_long_description_is_truncated_when_lenient(make_api: MakeApi,
                                                          pool: urllib3.PoolManager) -> None:
    """In lenient mode the description is cut to 2048 characters ending in an ellipsis."""
    api = make_api(strict_description=False)
    assert post(pool, api, envelope(alert(description="x" * 5000))).status == 201
    stored = api.alerts[0]["description"]
    assert (len(stored), stored[-1]) == (2048, "…")
    assert api.diagnostics == [(0, "alert 1: description truncated")]


def test_rows_9_to_14_report_lowest_row_then_index(api: MockAlertsApi,
                                                   pool: urllib3.PoolManager) -> None:
    """The lowest row wins over the lowest index (alert 3's app key beats alert 2's status)."""
    resp = post(pool, api, envelope(alert(), alert(status="bad"), alert(app_key="nope")))
    assert (resp.status, error(resp)) == (400, "alert 3: invalid app_key")
    assert api.alerts == []


def test_partial_accept_keeps_good_alerts(make_api: MakeApi, pool: urllib3.PoolManager) -> None:
    """With partial_accept a mixed batch answers 201, stores the good alerts and notes the bad."""
    api = make_api(partial_accept=True)
    resp = post(pool, api, envelope(alert(), alert(host=None), alert(check="cpu")))
    assert resp.status == 201
    assert [a["check"] for a in api.alerts] == ["disk", "cpu"]
    assert api.diagnostics == [(0, "alert 2: missing primary property")]


# -- rows 15-17 ---------------------------------------------------------------------


def test_row15_rate_limit_is_429_with_retry_after(make_api: MakeApi,
                                                  pool: urllib3.PoolManager) -> None:
    """Past rate_limit_per_s the double answers 429 with Retry-After: 1 and stores nothing."""
    api = make_api(rate_limit_per_s=0.2)
    assert post(pool, api, envelope(alert())).status == 201
    resp = post(pool, api, envelope(alert(host="web-2")))
    assert (resp.status, error(resp), resp.headers["Retry-After"]) == (429, "too many requests",
                                                                       "1")
    assert len(api.alerts) == 1


def test_row16_all_duplicates_is_204(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """Resending identical alerts answers 204 with an empty body and stores nothing new."""
    body = envelope(alert(), alert(host="web-2"))
    assert post(pool, api, body).status == 201
    resp = post(pool, api, body)
    assert (resp.status, resp.data) == (204, b"")
    assert (len(api.alerts), api.stats()["duplicates"]) == (2, 2)
    assert post(pool, api, envelope(alert(host="web-3"))).status == 201  # same connection


def test_row16_duplicates_compare_after_app_key_merge(api: MockAlertsApi,
                                                      pool: urllib3.PoolManager) -> None:
    """An alert resent as a bare array with its own app_key duplicates its envelope form."""
    assert post(pool, api, envelope(alert())).status == 201
    assert post(pool, api, orjson.dumps([alert(app_key=APP_KEY)])).status == 204


def test_row16_mixed_batch_is_201_and_stores_only_new(api: MockAlertsApi,
                                                      pool: urllib3.PoolManager) -> None:
    """A batch with some new and some known alerts answers 201 and stores only the new ones."""
    assert post(pool, api, envelope(alert())).status == 201
    assert post(pool, api, envelope(alert(), alert(host="web-2"))).status == 201
    assert [a["host"] for a in api.alerts] == ["web-1", "web-2"]
    assert api.stats()["duplicates"] == 1


def test_row17_success_is_recorded(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """A good batch answers 201 with the success body; the request and alerts are recorded."""
    body = envelope(alert(), alert(status="ok", host="web-2"))
    resp = post(pool, api, body, headers={"X-Trace": "abc"})
    assert (resp.status, orjson.loads(resp.data)) == (201, {"response": {"status": "success"}})
    assert resp.headers["Content-Length"] == str(len(resp.data))
    [req] = api.requests
    assert (req.method, req.path, req.body, req.status) == ("POST", "/data/v2/alerts", body, 201)
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["x-trace"] == "abc"
    assert api.alerts == [alert(app_key=APP_KEY), alert(status="ok", host="web-2",
                                                         app_key=APP_KEY)]
    stats = api.stats()
    assert stats["by_status"] == {"critical": 1, "ok": 1}
    assert stats["responses"] == {201: 1}


def test_chunked_body_is_refused_with_411(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """A chunked request body cannot be delimited by the double and answers 411."""
    resp = pool.request("POST", api.endpoint, body=iter([envelope(alert())]), chunked=True,
                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 411


# -- state ----------------------------------------------------------------------


def test_latest_status_follows_the_highest_timestamp(api: MockAlertsApi,
                                                     pool: urllib3.PoolManager) -> None:
    """Latest status follows the newest timestamp; ties go to the later arrival."""
    post(pool, api, envelope(alert(timestamp=100), alert(status="ok", timestamp=200)))
    post(pool, api, envelope(alert(status="warning", timestamp=150)))
    assert api.latest_status((APP_KEY, "web-1", "disk")) == "ok"
    post(pool, api, envelope(alert(status="warning", timestamp=200)))
    assert api.latest_status((APP_KEY, "web-1", "disk")) == "warning"
    assert api.latest_status((APP_KEY, "web-9", "disk")) is None


def test_identity_uses_named_properties_and_incident_identifier(
        api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """Identity uses primary/secondary_property when named, else incident_identifier wins."""
    post(pool, api, envelope(
        alert(primary_property="service", service="pay", secondary_property="sensor",
              sensor="s1"),
        alert(host=None, check=None, application="crm"),
        alert(incident_identifier="inc-7", status="warning"),
    ))
    assert api.latest_status((APP_KEY, "pay", "s1")) == "critical"
    assert api.latest_status((APP_KEY, "crm", None)) == "critical"
    assert api.latest_status("inc-7") == "warning"


def test_wait_for_alerts(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """wait_for_alerts returns False on timeout and True once enough alerts are stored."""
    assert api.wait_for_alerts(1, 0.05) is False
    post(pool, api, envelope(alert()))
    assert api.wait_for_alerts(1, 1.0) is True


def test_reset_forgets_everything(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """After reset the store is empty, so the same alert is new again."""
    body = envelope(alert())
    post(pool, api, body)
    api.add_fault(Fault(status=500))
    api.reset()
    assert (api.alerts, api.requests, api.stats()["duplicates"]) == ([], [], 0)
    assert post(pool, api, body).status == 201


def test_concurrent_clients_lose_nothing(api: MockAlertsApi) -> None:
    """Four clients posting at once over their own connections get every alert stored once."""
    def send(worker: int) -> None:
        with urllib3.PoolManager(retries=False) as own:
            for n in range(25):
                batch = [alert(host=f"w{worker}", timestamp=n * 10 + i) for i in range(10)]
                assert post(own, api, envelope(*batch)).status == 201

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert api.stats()["alerts"] == 1000
    assert len(api.requests) == 100


# -- faults -----------------------------------------------------------------------


def test_fault_count_applies_to_next_n_alert_requests(api: MockAlertsApi,
                                                      pool: urllib3.PoolManager) -> None:
    """A count=2 fault answers its status to the next two alerts-path requests only."""
    api.add_fault(Fault(status=503, count=2))
    assert pool.request("GET", api.url + "/_mock/stats").status == 200
    assert pool.request("GET", api.url + "/other").status == 404
    first, second = post(pool, api, envelope(alert())), post(pool, api, envelope(alert()))
    assert (first.status, error(first), second.status) == (503, "injected", 503)
    assert post(pool, api, envelope(alert())).status == 201
    assert [r.status for r in api.requests] == [404, 503, 503, 201]


def test_fault_window(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """A fault applies only between start_s and end_s after it was added."""
    api.add_fault(Fault(status=502, end_s=0.5))
    api.add_fault(Fault(status=504, start_s=0.5, end_s=1.0))
    assert post(pool, api, envelope(alert())).status == 502
    time.sleep(0.55)
    assert post(pool, api, envelope(alert())).status == 504
    time.sleep(0.5)
    assert post(pool, api, envelope(alert())).status == 201


@pytest.mark.parametrize("retry_after", ["7", formatdate(time.time() + 30, usegmt=True)])
def test_fault_retry_after_is_sent_verbatim(api: MockAlertsApi, pool: urllib3.PoolManager,
                                            retry_after: str) -> None:
    """A fault's retry_after (seconds or HTTP-date) is sent verbatim as Retry-After."""
    api.add_fault(Fault(status=429, count=1, retry_after=retry_after))
    resp = post(pool, api, envelope(alert()))
    assert (resp.status, resp.headers["Retry-After"]) == (429, retry_after)


def test_fault_latency_delays_the_answer(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """latency_s delays the answer by at least that long, then the request is processed."""
    api.add_fault(Fault(latency_s=0.3, count=1))
    started = time.monotonic()
    assert post(pool, api, envelope(alert())).status == 201
    assert time.monotonic() - started >= 0.3


def test_fault_latency_beyond_client_timeout(api: MockAlertsApi) -> None:
    """Latency longer than the client's read timeout surfaces as a read timeout."""
    api.add_fault(Fault(latency_s=10.0, count=1))
    with urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(read=0.2)) as pool, \
            pytest.raises(ReadTimeoutError):
        post(pool, api, envelope(alert()))


def test_drop_before_response(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """drop=before_response closes the connection unanswered and stores nothing."""
    api.add_fault(Fault(drop="before_response", count=1))
    with pytest.raises(ProtocolError):
        post(pool, api, envelope(alert()))
    assert api.alerts == []
    assert [r.status for r in api.requests] == [0]
    assert post(pool, api, envelope(alert())).status == 201


def test_drop_after_body_then_retry_is_204(api: MockAlertsApi,
                                           pool: urllib3.PoolManager) -> None:
    """drop=after_body stores the alerts but answers nothing; resending the same bytes gets 204."""
    api.add_fault(Fault(drop="after_body", count=1))
    body = envelope(alert())
    with pytest.raises(ProtocolError):
        post(pool, api, body)
    assert len(api.alerts) == 1
    assert post(pool, api, body).status == 204
    assert api.stats()["responses"] == {0: 1, 204: 1}


@pytest.mark.parametrize("fields", [{"drop": "sometimes"}, {"retry_after": "1"},
                                    {"status": 503, "drop": "after_body"}, {"count": 0},
                                    {"status": "503"}, {"start_s": 2, "end_s": 1}])
def test_fault_rejects_inconsistent_settings(fields: dict[str, Any]) -> None:
    """Fault refuses unknown drops, retry_after without status, zero counts and bad windows."""
    with pytest.raises(ValueError):
        Fault(**fields)


def test_set_tokens_toggles_at_runtime(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """set_tokens takes effect on the next request: revoke gives 401, restore gives 201."""
    api.set_tokens([])
    assert post(pool, api, envelope(alert())).status == 401
    api.set_tokens(["new"], forbidden_tokens=[TOKEN])
    assert post(pool, api, envelope(alert())).status == 403
    assert post(pool, api, envelope(alert()), token="new").status == 201


# -- control endpoints -------------------------------------------------------------


def control(pool: urllib3.PoolManager, api: MockAlertsApi, method: str, path: str,
            doc: Any = None) -> Response:
    body = None if doc is None else orjson.dumps(doc)
    return pool.request(method, api.url + "/_mock/" + path, body=body)


def test_control_endpoints(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """/_mock/ stats, alerts, faults, tokens and reset script the double from another process."""
    post(pool, api, envelope(alert()))
    stats = orjson.loads(control(pool, api, "GET", "stats").data)
    assert (stats["alerts"], stats["responses"], stats["by_status"]) == (1, {"201": 1},
                                                                         {"critical": 1})
    assert orjson.loads(control(pool, api, "GET", "alerts").data) == [alert(app_key=APP_KEY)]
    assert control(pool, api, "POST", "faults", {"status": 500, "count": 1}).status == 200
    assert post(pool, api, envelope(alert())).status == 500
    assert control(pool, api, "POST", "faults", {"status": 500}).status == 200
    assert control(pool, api, "DELETE", "faults").status == 200
    assert control(pool, api, "POST", "tokens", {"tokens": ["fresh"]}).status == 200
    assert post(pool, api, envelope(alert(host="web-2"))).status == 401
    assert post(pool, api, envelope(alert(host="web-2")), token="fresh").status == 201
    assert control(pool, api, "POST", "reset").status == 200
    assert api.alerts == [] and api.requests == []


def test_control_errors(api: MockAlertsApi, pool: urllib3.PoolManager) -> None:
    """Bad control input answers 400, unknown control paths 404, wrong methods 405."""
    assert control(pool, api, "POST", "faults", {"status": 500, "bogus": 1}).status == 400
    assert control(pool, api, "POST", "faults", [1]).status == 400
    assert control(pool, api, "POST", "tokens", {"tokens": "x"}).status == 400
    assert control(pool, api, "GET", "nothing").status == 404
    resp = control(pool, api, "POST", "stats")
    assert (resp.status, resp.headers["Allow"]) == (405, "GET")
    assert api.requests == []


# -- lifecycle and command line ---------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "localhost", "::1", "192.0.2.1"])
def test_binding_refuses_non_loopback(host: str) -> None:
    """The double binds 127.0.0.1 only; any other host is a ValueError."""
    with pytest.raises(ValueError):
        MockAlertsApi(host=host)


def test_stop_closes_keep_alive_connections(make_api: MakeApi) -> None:
    """stop() ends idle keep-alive connections, so a later request on them fails."""
    api = make_api()
    assert api.url.startswith("http://127.0.0.1:") and api.endpoint.endswith("/data/v2/alerts")
    with urllib3.PoolManager(retries=False) as pool:
        assert post(pool, api, envelope(alert())).status == 201
        api.stop()
        with pytest.raises(urllib3.exceptions.HTTPError):
            post(pool, api, envelope(alert()))


def test_configure_parser_defaults_and_repeats() -> None:
    """Defaults match the docs; a repeated --token replaces the default instead of adding."""
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args([])
    assert (args.port, args.token, args.app_key, args.forbidden_token) == (
        8080, ["test-token"], ["test-app-key"], [])
    assert (args.lenient, args.strict_array, args.gzip, args.rate_limit, args.quiet) == (
        False, False, False, None, False)
    args = parser.parse_args(["--token", "a", "--token", "b", "--rate-limit", "2.5", "--quiet"])
    assert (args.token, args.rate_limit, args.quiet) == (["a", "b"], 2.5, True)
    assert parser.parse_args([]).token == ["test-token"]


CLI = ("import argparse, sys\n"
       "from agent.mock_api_cli import configure_parser, run_from_args\n"
       "p = argparse.ArgumentParser(); configure_parser(p)\n"
       "sys.exit(run_from_args(p.parse_args(sys.argv[1:])))\n")


def test_run_from_args_prints_and_stops_on_sigterm(pool: urllib3.PoolManager) -> None:
    """The CLI prints its endpoint, one JSON line per accepted alert, and exits 0 on SIGTERM."""
    argv = [sys.executable, "-c", CLI, "--port", "0", "--token", TOKEN, "--app-key", APP_KEY]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("mock-api listening on http://127.0.0.1:")
        endpoint = first.rsplit(" ", 1)[1]
        resp = pool.request("POST", endpoint, body=envelope(alert()),
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status == 201
        assert orjson.loads(proc.stdout.readline()) == alert(app_key=APP_KEY)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_run_from_args_returns_1_when_the_port_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI reports a port already in use on stderr and returns 1 instead of raising."""
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_from_args(parser.parse_args(["--port", str(port)])) == 1
    assert "cannot start" in capsys.readouterr().err
