"""Upstream failures: the right errno, one clear log line, the mount lives."""

import errno
import json
import os
import time

import pytest

from conftest import eventually, fetches_allowed, scaled
from standin import StandIn
from test_tree import ROOT_ENTRIES

# Every test here is a fault scenario (scripts/test counts them).
pytestmark = pytest.mark.fault


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def assert_alive(m):
    assert sorted(os.listdir(m.path)) == ROOT_ENTRIES


def test_rejected_token_is_eacces(server, mounter, token):
    server.set_token("another-token")
    m = mounter(server.url, "cache_ttl=60")
    assert errno_of(os.listdir, m.p("tokens")) == errno.EACCES
    assert errno_of(open, m.p("tokens", "1", "name")) == errno.EACCES
    assert "rejected the token (HTTP 401)" in m.log()
    assert_alive(m)
    # Accepted again on the server: the first access after the back-off step
    # fetches and succeeds.
    server.set_token(token)
    assert eventually(lambda: m.p("tokens", "1", "name").read_text(), 5) == "Teams integ\n"


def test_403_is_eacces(server, mounter):
    server.fault("status", code=403)
    m = mounter(server.url)
    assert errno_of(os.stat, m.p("tokens", "1")) == errno.EACCES
    assert "HTTP 403" in m.log()


def test_dead_server_is_econnrefused(server, mounter):
    url = server.url
    server.stop()
    m = mounter(url)
    assert errno_of(os.listdir, m.p("tokens")) == errno.ECONNREFUSED
    assert "connection refused" in m.log()
    assert_alive(m)


def test_slow_server_times_out(server, mounter):
    server.fault("slow", delay=10)
    m = mounter(server.url, "timeout=1")
    t0 = time.monotonic()
    assert errno_of(os.listdir, m.p("tokens")) == errno.ETIMEDOUT
    assert time.monotonic() - t0 < scaled(4)
    assert "timeout" in m.log()


@pytest.mark.parametrize("kind, params, logged", [
    ("malformed", {}, "malformed JSON"),
    ("not_array", {}, "expected a JSON array"),
    ("status", {"code": 500}, "HTTP 500"),
    ("status", {"code": 404}, "HTTP 404"),
    ("status", {"code": 302, "location": "http://127.0.0.1:1/elsewhere"}, "redirect"),
    ("truncated", {}, ""),
    ("drop", {}, ""),
])
def test_bad_answers_are_eio_and_logged(server, mounter, kind, params, logged):
    server.fault(kind, **params)
    m = mounter(server.url)
    assert errno_of(os.listdir, m.p("tokens")) == errno.EIO
    assert "fetching the token list failed" in m.log()
    assert logged in m.log()
    assert_alive(m)


def test_body_over_max_response_is_refused(server, mounter):
    server.fault("huge", size=3 * 1024 * 1024)
    m = mounter(server.url, "max_response=1048576")
    assert errno_of(os.listdir, m.p("tokens")) == errno.EIO
    assert "max_response" in m.log()


def test_a_failure_is_logged_once_not_per_access(server, mounter):
    server.fault("status", code=500)
    m = mounter(server.url)
    start = time.monotonic()
    for _ in range(5):
        errno_of(os.listdir, m.p("tokens"))
    elapsed = time.monotonic() - start
    assert m.log().count("HTTP 500") == 1
    # Nothing is cached, yet the failure is: one fetch per back-off step, of
    # 4 tries each (a 500 is retried within a fetch), however many accesses.
    assert 4 <= server.count("list") <= 4 * fetches_allowed(elapsed, 60)


def test_recovers_when_the_server_does(server, mounter):
    server.fault("status", code=503)
    m = mounter(server.url)
    assert errno_of(os.listdir, m.p("tokens")) == errno.EIO
    server.clear_fault()
    # The failure is the answer until its back-off step is over; then the
    # next access fetches and succeeds.
    assert "1" in eventually(lambda: os.listdir(m.p("tokens")), 5)
    assert "fetch ok again" in m.log()


def test_stale_if_error(server, mounter):
    m = mounter(server.url, "cache_ttl=1")
    assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"
    server.fault("status", code=500)
    time.sleep(1.2)
    # Expired and the refresh fails: the old list is served, and said to be stale.
    assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"
    assert "2" in os.listdir(m.p("tokens"))
    # Served at once; the failing fetch (4 tries of a 500) ends later.
    assert eventually(lambda: "serving stale data" in m.log(), 10)
    n = server.count("list")
    assert n >= 2
    # Back-off: reads during the retry window do not hammer the server.  What
    # a slow daemon may legitimately send is derived from the time it took:
    # one fetch (4 tries of a 500) per back-off step ended, plus the one that
    # may be in flight.
    start = time.monotonic()
    for _ in range(10):
        m.p("tokens", "1", "id").read_text()
    elapsed = time.monotonic() - start
    assert server.count("list") <= n + 4 * fetches_allowed(elapsed, 1)
    # The server recovers and changes: the mount follows on its own.
    server.clear_fault()
    server.remove_token(2)
    deadline = time.monotonic() + scaled(10)
    while "2" in os.listdir(m.p("tokens")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "2" not in os.listdir(m.p("tokens"))
    assert "fetch ok again" in m.log()


def test_stale_if_dead(server, mounter):
    m = mounter(server.url, "cache_ttl=1")
    assert "1" in os.listdir(m.p("tokens"))
    server.stop()
    time.sleep(1.2)
    assert m.p("tokens", "1", "expiry").read_text() == "2025-09-10T10:53:38.67+08:00\n"
    assert "connection refused" in m.log() and "stale" in m.log()


def test_invalid_token_objects_are_skipped_with_a_warning(server, mounter):
    tokens = server.tokens()
    del tokens[0]["Expiry"]                 # ID 1: field missing
    tokens[1]["ExpiryReminderState"] = "x"  # ID 2: wrong type
    tokens[2]["CreatedOn"] = "yesterday"    # ID 3: not a timestamp
    dup = dict(tokens[3], Name="second four")
    tokens.append(dup)                      # ID 4 again: the first wins
    server.set_tokens(tokens)
    m = mounter(server.url)
    ids = os.listdir(m.p("tokens"))
    assert "1" not in ids and "2" not in ids and "3" not in ids
    assert sorted(ids, key=int) == ["4", "5", "7", "8", "9", "10", "12"]
    assert m.p("tokens", "4", "name").read_text() == "ci/cd deploy\n"
    log = m.log()
    assert "token ID 1 skipped: field Expiry" in log
    assert "token ID 2 skipped: field ExpiryReminderState" in log
    assert "token ID 3 skipped: field CreatedOn" in log
    assert "token ID 4 skipped: the ID appears more than once" in log


@pytest.mark.bad_input
def test_hostile_raw_bodies_never_kill_the_mount(server, mounter):
    m = mounter(server.url, "cache_ttl=0")
    bodies = [b"", b"null", b"[]", b"[1,2,3]", b"[null]", b'"string"', b"[" * 100000,
              b'[{"ID":1e400}]', b'[{"ID":-1}]', b"\xff\xfe", b'[{"ID":1,"Name":"\x00"}]',
              json.dumps([{"ID": 2**60}]).encode(), b"[]garbage"]
    for body in bodies:
        server.set_raw_list(body)
        try:
            os.listdir(m.p("tokens"))
        except OSError as exc:
            assert exc.errno == errno.EIO, (body[:20], exc)
    server.set_raw_list(None)
    assert "1" in os.listdir(m.p("tokens"))
