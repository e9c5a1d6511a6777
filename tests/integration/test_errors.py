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
    # Far longer than any scaled bound below: a missed timeout must show.
    server.fault("slow", delay=60)
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
    ("truncated", {}, "transfer closed with"),
    ("drop", {}, "Empty reply from server"),
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
    # An access waits refresh_wait (1 s) at most; the 4 tries take 1.75 s.
    assert eventually(lambda: "serving stale data" in m.log(), 10), m.log()
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
    # Served stale at once or after refresh_wait; the failure may land after.
    assert eventually(lambda: "connection refused" in m.log() and "stale" in m.log(), 10), \
        m.log()


def refetch(m, server):
    """One more fetch, by synergyfs --refresh, which returns when it is served."""
    before = server.count("list")
    m.refreshed()
    assert server.count("list") == before + 1


@pytest.mark.bad_input
def test_unreadable_fields_are_listed_counted_and_logged_once(server, mounter):
    """Every Expiry in a format synergyfs does not read: every token is still
    listed, its expiry holds what the server sent, what derives from it says
    unknown, status and metrics.prom count the tokens, and each problem is
    logged once, not again on the next fetch."""
    tokens = server.tokens()
    ids = sorted(t["ID"] for t in tokens)
    for t in tokens:
        t["Expiry"] = "/Date(1798761600000)/"
    tokens[1]["Expiry"] = 1798761600000      # a number
    tokens[2]["Expiry"] = "2027-01-01"       # a date without a time
    del tokens[3]["CreatedOn"]               # ID 4: missing
    tokens[4]["ExpiryReminderState"] = "x"   # ID 5: not an integer
    tokens.append(dict(tokens[5], ID=4, Expiry="2027-01-01T00:00:00Z"))  # the first ID 4 wins
    tokens.append({"Name": "no ID", "Expiry": "2027-01-01T00:00:00Z"})
    server.set_tokens(tokens)
    m = mounter(server.url, "cache_ttl=3600")

    assert sorted(map(int, os.listdir(m.p("tokens")))) == ids
    d = m.p("tokens", "1")
    assert (d / "expiry").read_text() == "/Date(1798761600000)/\n"
    for f in ("expiry_epoch", "days_left", "expired"):
        assert (d / f).read_text() == "unknown\n", f
        assert os.stat(d / f).st_size == len("unknown\n")
    assert json.loads((d / "token.json").read_bytes()) == tokens[0]
    assert m.p("tokens", "2", "expiry").read_text() == "1798761600000\n"
    assert m.p("tokens", "3", "expiry").read_text() == "2027-01-01\n"
    assert m.p("tokens", "4", "created_on").read_text() == "\n"
    assert os.stat(m.p("tokens", "4", "name")).st_mtime == 0
    assert m.p("tokens", "4", "name").read_text() == "ci/cd deploy\n"
    assert m.p("tokens", "5", "expiry_reminder_state").read_text() == "x\n"
    assert os.listdir(m.p("expiring")) == [] and os.listdir(m.p("expired")) == []
    assert "Teams integ" in os.listdir(m.p("by-name"))

    status = m.p("status").read_text()
    assert "last_result: ok\n" in status
    assert f"\ntokens: {len(ids)}\ntokens_with_problems: {len(ids)}\n" in status
    metrics = m.p("metrics.prom").read_text()
    assert "# TYPE synergy_pat_problems gauge\n" in metrics
    assert f"\nsynergy_pat_problems {len(ids)}\n" in metrics
    assert "synergy_pat_expiry_timestamp_seconds{" not in metrics
    assert "synergy_pat_expired{" not in metrics
    assert 'synergy_pat_created_timestamp_seconds{id="4",' not in metrics
    assert 'synergy_pat_created_timestamp_seconds{id="1",' in metrics

    refetch(m, server)
    assert f"tokens_with_problems: {len(ids)}\n" in m.p("status").read_text()
    log = m.log()
    for tid in ids:
        line = f"token ID {tid}: field Expiry cannot be read: "
        assert log.count(line) == 1, (tid, log)
    assert log.count("token ID 2: field Expiry cannot be read: a number where an ISO 8601 "
                     "timestamp is expected\n") == 1
    assert log.count("token ID 1: field Expiry cannot be read: a string where an ISO 8601 "
                     "timestamp is expected\n") == 1
    assert log.count("token ID 4: field CreatedOn cannot be read: missing") == 1
    assert log.count("token ID 5: field ExpiryReminderState cannot be read: a string") == 1
    assert log.count(f"token #{len(tokens)} skipped: field ID is missing or invalid") == 1
    assert log.count("token ID 4 skipped: the ID appears more than once") == 1
    assert log.count(f"{len(ids)} tokens listed with fields that could not be read") == 1


# Each hostile body and what a fresh mount (nothing cached to fall back on)
# shows for it: the folders of tokens/, or the errno and the log line.
# Elements that are no token, or whose ID does not read, are skipped.
HOSTILE_BODIES = [
    (b"", (errno.EIO, "malformed JSON at byte 0 of 0")),
    (b"null", (errno.EIO, "expected a JSON array of tokens, got ")),
    (b"[]", []),
    (b"[1,2,3]", []),
    (b"[null]", []),
    (b'"string"', (errno.EIO, "expected a JSON array of tokens, got ")),
    (b"[" * 100000, (errno.EIO, "malformed JSON at byte ")),
    (b'[{"ID":1e400}]', []),
    (b'[{"ID":-1}]', []),
    (b"\xff\xfe", (errno.EIO, "malformed JSON at byte 0 of 2")),
    (b'[{"ID":1,"Name":"\x00"}]', ["1"]),  # a raw NUL in a string: read as cJSON reads it
    (json.dumps([{"ID": 2**60}]).encode(), []),
    (b"[]garbage", (errno.EIO, "unexpected data after the JSON value at byte 2")),
]


@pytest.mark.bad_input
@pytest.mark.parametrize("body, want", HOSTILE_BODIES,
                         ids=[repr(b[:12]) for b, _ in HOSTILE_BODIES])
def test_hostile_raw_bodies_never_kill_the_mount(server, mounter, body, want):
    server.set_raw_list(body)
    m = mounter(server.url, "cache_ttl=0")
    if isinstance(want, list):
        assert sorted(os.listdir(m.p("tokens"))) == want
    else:
        err, logged = want
        assert errno_of(os.listdir, m.p("tokens")) == err
        assert logged in m.log()
    assert_alive(m)
