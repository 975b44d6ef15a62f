"""One POST to a media server: retried on connection errors and 5xx within one deadline, failed at
once on answers that asking again will not change, never redirected, never telling a secret."""

from __future__ import annotations

import logging
import time

import pytest

from tests.mediaserver.standin import StandIn, closed_port
from vod2strm.mediaserver.http import ATTEMPTS, Deadline, DeliveryError, Transport

KEY = "k3y-SECRET-jelly"
HEADERS = {"Authorization": f'MediaBrowser Token="{KEY}"'}


def transport(seconds: float = 10.0, timeout: float = 5.0, sleeps: list[float] | None = None) -> Transport:
    pauses = sleeps if sleeps is not None else []
    return Transport(timeout=timeout, deadline=Deadline(seconds), secrets=[KEY], sleep=pauses.append)


def test_a_5xx_is_retried_with_back_off_until_the_server_answers() -> None:
    sleeps: list[float] = []
    with StandIn(api_key=KEY, fail_with=[503, 502]) as server:
        t = transport(sleeps=sleeps)
        t.post(server.url + "/Library/Refresh", None, HEADERS)
    assert [r.path for r in server.requests] == ["/Library/Refresh"] * 3
    assert sleeps == [0.5, 1.0]
    assert t.requests == 3


def test_a_server_that_keeps_failing_is_given_up_after_the_last_attempt() -> None:
    with StandIn(api_key=KEY, fail_with=[500] * 5) as server:
        t = transport()
        with pytest.raises(DeliveryError, match=r"answered HTTP 500 .*gave up after 3 attempt"):
            t.post(server.url + "/Library/Refresh", None, HEADERS)
    assert len(server.requests) == ATTEMPTS


@pytest.mark.parametrize(("status", "hint"), [(401, "check the API key"), (404, "check the address")])
def test_a_4xx_fails_at_once_with_a_hint(status: int, hint: str) -> None:
    with StandIn(api_key=KEY, fail_with=[status]) as server, pytest.raises(DeliveryError, match=hint):
        transport().post(server.url + "/Library/Refresh", None, HEADERS)
    assert len(server.requests) == 1


def test_an_unreachable_server_is_one_error_naming_host_and_port_only() -> None:
    url = closed_port()
    with pytest.raises(DeliveryError) as info:
        transport().post(url + "/Library/Media/Updated", b"{}", HEADERS)
    message = str(info.value)
    assert message.startswith(f"cannot reach {url.removeprefix('http://')}: connection refused")
    assert "/Library" not in message and KEY not in message


def test_a_stalled_server_is_abandoned_at_the_deadline() -> None:
    with StandIn(api_key=KEY, delay=3.0) as server:
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="no answer in time"):
            Transport(timeout=0.5, deadline=Deadline(1.2), secrets=[KEY]).post(
                server.url + "/Library/Refresh", None, HEADERS
            )
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed


def test_a_redirect_is_refused_so_the_credentials_never_follow_it() -> None:
    with StandIn(api_key=KEY, fail_with=[302]) as server, pytest.raises(DeliveryError, match="redirect"):
        transport().post(server.url + "/Library/Refresh", None, HEADERS)
    assert len(server.requests) == 1


def test_secrets_are_masked_in_every_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vod2strm")
    t = transport()
    assert t.mask(f"echoed {KEY} back") == "echoed *** back"
    with pytest.raises(DeliveryError) as info:
        t.post(closed_port() + f"/{KEY}", b"{}", HEADERS)
    assert KEY not in str(info.value)
    assert KEY not in caplog.text


def test_the_body_goes_as_json_with_the_given_headers() -> None:
    with StandIn(api_key=KEY) as server:
        transport().post(server.url + "/Library/Media/Updated", b'{"Updates": []}', HEADERS)
    (request,) = server.requests
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f'MediaBrowser Token="{KEY}"'
    assert request.json == {"Updates": []}
