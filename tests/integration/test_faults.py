"""A misbehaving upstream: retries and their back-off, redirects that are never
followed, bodies that are too big, stale-if-error, and a server that flaps
while 64 readers hammer the mount.

Request counts are exact wherever the test can make the number of fetches
exact.  While nothing is cached, `ls tokens` costs two fetches when the kernel
has not looked "tokens" up yet (the lookup in the root, then the opendir), so
the tests that count the requests of one failing fetch first let the kernel
learn the root's entries while the server is down (learn_root_entries).

The stand-in keeps a history of requests (keep_history) where a test needs
their timing or which list each answer served.
"""

import errno
import http.server
import math
import os
import random
import re
import socketserver
import threading
import time
import urllib.request

import pytest

from conftest import eventually, SANITIZERS, UNDER_VALGRIND, scaled
from standin import DEFAULT_TOKENS, copy_json, encode_json, generate_tokens

pytestmark = pytest.mark.fault

MiB = 1024 * 1024
DEFAULT_IDS = sorted(str(t["ID"]) for t in DEFAULT_TOKENS)
# RSS says something about the daemon only on a plain build run directly.
PLAIN_BUILD = SANITIZERS == "none" and not UNDER_VALGRIND


# ---- helpers -------------------------------------------------------------


def errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def timed_errno(fn, *args):
    """(errno of the OSError fn raised, seconds it took)."""
    t0 = time.monotonic()
    e = errno_of(fn, *args)
    return e, time.monotonic() - t0


def learn_root_entries(m, server):
    """Make sure that from here on `ls tokens` costs exactly one fetch.

    Lookups in the root never fetch (its entries are fixed), so looking
    "tokens" up costs nothing: the fetch comes with the listing below it.
    The counters start again at zero.
    """
    assert os.access(m.p("tokens"), os.R_OK)
    assert server.count("list") == 0
    server.reset_counts()


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def lines_with(log, needle):
    return [line for line in log.splitlines() if needle in line]


def wait_until(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout:.1f} s: {what}"
        time.sleep(interval)


def failed_fetches(m):
    """The daemon's count of failed fetches (metrics.prom never fetches)."""
    text = m.p("metrics.prom").read_text()
    return int(re.search(r'^synergyfs_fetches_total\{result="error"\} (\d+)$', text, re.M)[1])


def stale_fetches(m, server, fetched, failed, tries):
    """The "serving stale data" lines, once every fetch that failed since the
    server had seen `fetched` requests and the daemon counted `failed` failed
    fetches has ended and sent exactly `tries` requests.  An access waits for
    a refresh only refresh_wait (1 s), and a slow run may start one more
    after the back-off step, so neither the end nor the number of the
    refreshes is fixed; the same error is logged once, however many."""
    def settled():
        if "fetching: no" not in m.p("status").read_text().splitlines():
            return None
        n = failed_fetches(m) - failed
        return n > 0 and server.count("list") - fetched == tries * n

    assert eventually(settled, 10), (
        f"{server.count('list') - fetched} requests for {failed_fetches(m) - failed} failed "
        f"fetches, not {tries} each:\n{m.log()}")
    lines = lines_with(m.log(), "serving stale data")
    assert lines, m.log()
    return lines


def gaps(server):
    """Seconds between the arrivals of consecutive list requests."""
    h = server.history("list")
    return [round(b["start"] - a["start"], 3) for a, b in zip(h, h[1:])]


# ---- retries ---------------------------------------------------------------


def test_two_503s_then_ok_are_retried_after_250_and_500_ms(server, mounter):
    server.keep_history = True
    m = mounter(server.url, "cache_ttl=60")
    server.fault("status", count=2, code=503)
    t0 = time.monotonic()
    ids = os.listdir(m.p("tokens"))
    took = time.monotonic() - t0
    # The user just sees the list, a little late, and no error in the log.
    assert sorted(ids) == DEFAULT_IDS
    assert server.count("list") == 3
    assert "failed" not in m.log()
    # Back-off: 250 ms after the first 503, 500 ms after the second.
    g = gaps(server)
    assert g[0] >= 0.25 and g[1] >= 0.5, f"waits between tries: {g}"
    assert took >= 0.7, f"3 tries took {took:.3f} s, waits {g}"
    assert took < scaled(5)


def test_429_retry_after_is_honoured(server, mounter):
    server.keep_history = True
    m = mounter(server.url, "cache_ttl=60")
    server.fault("status", count=1, code=429, retry_after=1)
    t0 = time.monotonic()
    assert sorted(os.listdir(m.p("tokens"))) == DEFAULT_IDS
    took = time.monotonic() - t0
    assert server.count("list") == 2
    # The server asked for 1 s, not our own 250 ms.
    g = gaps(server)
    assert g[0] >= 1.0, f"the second try came {g[0]} s after the 429"
    assert 1.0 <= took < scaled(4)


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_beyond_the_timeout_fails_at_once(server, mounter, code):
    m = mounter(server.url, "cache_ttl=60", "timeout=2")
    learn_root_entries(m, server)
    server.fault("status", code=code, retry_after=30)
    e, took = timed_errno(os.listdir, m.p("tokens"))
    assert e == errno.EIO
    assert took < scaled(1.0), f"took {took:.2f} s; waiting 30 s would pass timeout=2"
    assert server.count("list") == 1
    [line] = lines_with(m.log(), f"HTTP {code}")
    assert "attempts" not in line  # one attempt: no "(after N attempts)"


def test_persistent_500_is_tried_4_times_with_doubling_waits(server, mounter):
    server.keep_history = True
    m = mounter(server.url, "cache_ttl=60")
    learn_root_entries(m, server)
    server.fault("status", code=500)
    e, took = timed_errno(os.listdir, m.p("tokens"))
    assert e == errno.EIO
    assert server.count("list") == 4
    assert "HTTP 500 from the server (after 4 attempts)" in m.log()
    g = gaps(server)
    assert len(g) == 3
    assert g[0] >= 0.25 and g[1] >= 0.5 and g[2] >= 1.0, f"waits between tries: {g}"
    assert 1.75 <= took < scaled(6)


@pytest.mark.parametrize("code", [400, 404])
def test_client_errors_are_not_retried(server, mounter, code):
    m = mounter(server.url, "cache_ttl=60")
    learn_root_entries(m, server)
    server.fault("status", code=code)
    assert errno_of(os.listdir, m.p("tokens")) == errno.EIO
    assert server.count("list") == 1
    [line] = lines_with(m.log(), f"HTTP {code}")
    assert "attempts" not in line


def test_a_slow_server_times_out_once_not_retried(server, mounter):
    m = mounter(server.url, "cache_ttl=60", "timeout=1")
    learn_root_entries(m, server)
    server.fault("slow", delay=60)  # far past any scaled bound below
    e, took = timed_errno(os.listdir, m.p("tokens"))
    assert e == errno.ETIMEDOUT
    assert server.count("list") == 1
    assert 0.9 <= took < scaled(2.5), f"took {took:.2f} s with timeout=1"
    [line] = lines_with(m.log(), "within the timeout")
    assert "attempts" not in line


def test_a_refused_connection_is_not_retried(server, mounter):
    url = server.url
    server.stop()
    m = mounter(url, "cache_ttl=60")
    assert errno_of(os.listdir, m.p("tokens")) == errno.ECONNREFUSED
    line = lines_with(m.log(), "connection refused")[-1]
    assert "attempts" not in line


# ---- broken answers --------------------------------------------------------


@pytest.mark.parametrize("kind", ["truncated", "drop"])
def test_one_broken_answer_is_retried(server, mounter, kind):
    m = mounter(server.url, "cache_ttl=60")
    server.fault(kind, count=1)
    assert sorted(os.listdir(m.p("tokens"))) == DEFAULT_IDS
    assert server.count("list") == 2
    assert "failed" not in m.log()


@pytest.mark.parametrize("kind", ["truncated", "drop"])
def test_persistently_broken_answers_are_eio_after_4_attempts(server, mounter, kind):
    m = mounter(server.url, "cache_ttl=60")
    learn_root_entries(m, server)
    server.fault(kind)
    assert errno_of(os.listdir, m.p("tokens")) == errno.EIO
    assert server.count("list") == 4
    assert "(after 4 attempts)" in lines_with(m.log(), "fetching the token list failed")[-1]


@pytest.mark.parametrize("kind", ["truncated", "drop"])
def test_broken_answers_serve_the_cached_list(server, mounter, kind):
    m = mounter(server.url, "cache_ttl=1")
    before = m.p("tokens.json").read_bytes()
    name = m.p("tokens", "1", "name").read_bytes()
    fetched, failed = server.count("list"), failed_fetches(m)
    server.fault(kind)
    time.sleep(1.1)
    # Expired, and every try of the refresh breaks: the old bytes, exactly.
    assert m.p("tokens.json").read_bytes() == before
    assert m.p("tokens", "1", "name").read_bytes() == name
    # 4 tries, as many requests, though the first try went over the
    # connection that the fetch before left open.
    lines = stale_fetches(m, server, fetched, failed, 4)
    assert all("(after 4 attempts)" in line for line in lines), lines


# ---- bodies over max_response ---------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_max_response_is_refused_in_bounded_memory(server, mounter, chunked):
    size = 48 * MiB
    m = mounter(server.url, "cache_ttl=60", f"max_response={MiB}")
    learn_root_entries(m, server)
    pid = m.proc.pid
    peak_before = proc_status_kib(pid, "VmHWM")
    server.fault("huge", size=size, chunked=chunked)
    e, took = timed_errno(os.listdir, m.p("tokens"))
    assert e == errno.EIO
    assert server.count("list") == 1  # not retried
    assert "max_response" in lines_with(m.log(), "fetching the token list failed")[-1]
    peak, rss = proc_status_kib(pid, "VmHWM"), proc_status_kib(pid, "VmRSS")
    print(f"daemon VmHWM {peak_before} -> {peak} KiB, VmRSS {rss} KiB, body {size >> 10} KiB, "
          f"{took:.2f} s")
    if PLAIN_BUILD:
        # At most max_response (1 MiB) is ever held, plus curl's buffers.
        assert (peak - peak_before) * 1024 < 4 * MiB
        assert rss * 1024 < size // 4
    # And the mount is fine once the server is (after the back-off step).
    server.clear_fault()
    assert sorted(eventually(lambda: os.listdir(m.p("tokens")), 5)) == DEFAULT_IDS


def test_a_body_over_max_response_serves_the_cached_list(server, mounter):
    m = mounter(server.url, "cache_ttl=1", f"max_response={MiB}")
    before = m.p("tokens.json").read_bytes()
    fetched, failed = server.count("list"), failed_fetches(m)
    server.fault("huge", size=8 * MiB)
    time.sleep(1.1)
    assert m.p("tokens.json").read_bytes() == before
    assert sorted(os.listdir(m.p("tokens"))) == DEFAULT_IDS
    lines = stale_fetches(m, server, fetched, failed, 1)  # not retried
    assert all("max_response" in line for line in lines), lines


# ---- redirects -------------------------------------------------------------


class Recorder:
    """A plain HTTP server on another port: it notes every connection and every
    request with its headers, and answers each with a valid token list, so that
    a client following a redirect to it would even "succeed"."""

    def __init__(self):
        rec = self
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []  # (method, path, headers)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                with rec.lock:
                    rec.requests.append((self.command, self.path, dict(self.headers)))
                body = encode_json(DEFAULT_TOKENS)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = answer

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def server_bind(self):  # no getfqdn(): it can stall on a bad resolver
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = self.server_address[:2]

            def verify_request(self, request, client_address):
                with rec.lock:
                    rec.connections += 1
                return True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def seen(self):
        with self.lock:
            return self.connections, list(self.requests)

    def forget(self):
        with self.lock:
            self.connections, self.requests = 0, []

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def elsewhere():
    rec = Recorder()
    # It does see a client that comes by (so "it saw nothing" means something).
    with urllib.request.urlopen(f"{rec.url}/probe", timeout=5) as answer:
        assert answer.status == 200
    connections, requests = rec.seen()
    assert connections == 1 and [(r[0], r[1]) for r in requests] == [("GET", "/probe")]
    rec.forget()
    yield rec
    rec.stop()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_the_token_stays_home(server, mounter, elsewhere, token, code):
    m = mounter(server.url, "cache_ttl=60")
    learn_root_entries(m, server)
    target = f"{elsewhere.url}/landing"
    server.fault("status", code=code, location=target)
    assert errno_of(os.listdir, m.p("tokens")) == errno.EIO
    line = lines_with(m.log(), f"HTTP {code} redirect")[-1]
    assert f"redirect to {target} refused" in line
    assert server.count("list") == 1  # not retried either
    assert server.auth_headers == [f"Bearer {token}"]
    # Nothing at all reached the other port: no connection, so no token.
    assert elsewhere.seen() == (0, [])


def test_a_redirect_carrying_the_token_is_logged_masked(server, mounter, elsewhere, token):
    m = mounter(server.url, "cache_ttl=60")
    learn_root_entries(m, server)
    server.fault("status", code=302, location=f"{elsewhere.url}/cb?access_token={token}&state=1")
    assert errno_of(os.listdir, m.p("tokens")) == errno.EIO
    log = m.log()
    assert token not in log
    assert f"redirect to {elsewhere.url}/cb?access_token=[token]&state=1 refused" in log
    assert elsewhere.seen() == (0, [])


# ---- stale-if-error across every kind of failure -------------------------


STALE_FAULTS = [
    ("status", {"code": 500}, "HTTP 500 from the server"),
    ("malformed", {}, "malformed JSON"),
    ("not_array", {}, "expected a JSON array"),
    ("truncated", {}, "transfer closed with"),
    ("drop", {}, "Empty reply from server"),
    ("slow", {"delay": 4}, "timeout"),
    ("status", {"code": 401}, "rejected the token (HTTP 401)"),
]


def test_stale_if_error_for_every_kind_of_failure_then_recovery(server, mounter):
    m = mounter(server.url, "cache_ttl=1", "timeout=2")

    def state():
        return (m.p("tokens.json").read_bytes(), m.p("tokens", "1", "name").read_bytes(),
                sorted(os.listdir(m.p("tokens"))), sorted(os.listdir(m.p("by-name"))))

    served = state()
    assert served[0] == encode_json(server.tokens()) + b"\n"
    for round_no, (kind, params, cause) in enumerate(STALE_FAULTS, 1):
        stale_lines = len(lines_with(m.log(), "serving stale data"))
        n = server.count("list")
        server.fault(kind, **params)

        def went_stale():
            # Every read meanwhile serves exactly the old list.
            assert state() == served, f"round {round_no} ({kind}): content changed"
            return (server.count("list") > n and
                    len(lines_with(m.log(), "serving stale data")) > stale_lines)

        wait_until(went_stale, scaled(10), f"{kind}: a failed refresh and a stale log line")
        line = lines_with(m.log(), "serving stale data")[-1]
        assert cause in line, f"{kind}: {line}"
        assert state() == served

        # The server recovers, with a change: the mount follows by itself.
        recovered = len(lines_with(m.log(), "fetch ok again"))
        server.clear_fault()
        tokens = server.tokens()
        tokens[0]["Name"] = f"Teams integ, round {round_no}"
        server.set_tokens(tokens)
        want = (f"Teams integ, round {round_no}\n").encode()
        wait_until(lambda: m.p("tokens", "1", "name").read_bytes() == want, scaled(10),
                   f"{kind}: recovery")
        served = state()
        assert served[0] == encode_json(tokens) + b"\n"
        assert len(lines_with(m.log(), "fetch ok again")) == recovered + 1


# ---- a flapping upstream under load ---------------------------------------


FLAP_SECONDS = float(os.environ.get("SYNERGYFS_FLAP_SECONDS", "30"))
FLAP_READERS = 64
FLAP_TTL = 1.0
FLAP_TIMEOUT = 2
FLAP_PHASES = ("ok", "500", "slow", "drop", "truncated", "change")
FLAP_DIRS = ("tokens", "by-name")


def flap_versions(n):
    """n versions of the list, each one change away from the last: a rename, an
    added token, a removed one, in turn."""
    versions = [generate_tokens(6)]
    next_id = 7
    for k in range(1, n):
        tokens = copy_json(versions[-1])
        if k % 3 == 1:
            tokens[k % len(tokens)]["Name"] = f"renamed-{k}"
        elif k % 3 == 2:
            tokens.append(generate_tokens(1, start_id=next_id)[0])
            next_id += 1
        else:
            del tokens[0]
        versions.append(tokens)
    return versions


def flap_view(tokens):
    """What a user reads from the mount of this list: path -> bytes, or for the
    two folders, the sorted tuple of their entries."""
    view = {"tokens.json": encode_json(tokens) + b"\n",
            "tokens": tuple(sorted(str(t["ID"]) for t in tokens)),
            "by-name": tuple(sorted(t["Name"] for t in tokens))}
    for t in tokens:
        for base in (f"tokens/{t['ID']}", f"by-name/{t['Name']}"):
            view[f"{base}/name"] = (t["Name"] + "\n").encode()
            view[f"{base}/expiry"] = (t["Expiry"] + "\n").encode()
        view[f"tokens/{t['ID']}/token.json"] = encode_json(t) + b"\n"
    return view


class FlapOracle:
    """Judges reads against the versions of the list the server really served,
    in full and without a fault, and since when (from the stand-in's history)."""

    def __init__(self, versions, history):
        self.views = [flap_view(v) for v in versions]
        self.ids_by_name = [{t["Name"]: t["ID"] for t in v} for v in versions]
        index = {encode_json(v): i for i, v in enumerate(versions)}
        self.served = {}  # version -> when it was first requested and then served
        for h in history:
            if h["body"] is not None:
                self.served.setdefault(index[h["body"]], h["start"])
        ends = [h["end"] for h in history if h["body"] is not None]
        self.first_list_at = min(ends, default=math.inf)

    def since(self, path, outcome):
        """The earliest moment a read of path could have had this outcome."""
        kind, value = outcome
        views, served = self.views, self.served
        if kind == "errno" and value == errno.ENOENT:
            return min((t for v, t in served.items() if path not in views[v]), default=math.inf)
        if kind != "ok":
            return math.inf
        best = min((t for v, t in served.items() if views[v].get(path) == value),
                   default=math.inf)
        parts = path.split("/")
        if parts[0] == "by-name" and len(parts) == 3:
            # A path walk is not atomic: by-name/NAME may be resolved in one
            # version and the file then read in a later one.
            for v1, t1 in served.items():
                tid = self.ids_by_name[v1].get(parts[1])
                if tid is None:
                    continue
                for v2, t2 in served.items():
                    if views[v2].get(f"tokens/{tid}/{parts[2]}") == value:
                        best = min(best, max(t1, t2))
        return best

    def describe(self, path, outcome, t_end):
        """Why a read is wrong, as precisely as can be said, in one line."""
        kind, value = outcome
        if kind != "ok":
            return f"{kind} {errno.errorcode.get(value, value) if kind == 'errno' else value}"
        if not isinstance(value, bytes):
            return f"{value!r}, which no version served by then has"
        text = f"{len(value)} bytes {value[:24]!r}...{value[-24:]!r}"
        notes = []
        for v, t in sorted(self.served.items()):
            want = self.views[v].get(path)
            if want == value:
                notes.append(f"version {v} has it, served {t - t_end:+.3f} s after the read")
            elif isinstance(want, bytes) and want.startswith(value):
                notes.append(f"the first {len(value)} of version {v}'s {len(want)} bytes")
            elif isinstance(want, bytes) and len(want) == len(value):
                at = next(i for i, (a, b) in enumerate(zip(value, want)) if a != b)
                notes.append(f"differs from version {v}'s from byte {at}: "
                             f"{value[at:at + 16]!r} instead of {want[at:at + 16]!r}")
        sizes = sorted({len(self.views[v][path]) for v in self.served if path in self.views[v]})
        return (f"{text}: " + ("; ".join(notes) or "no version has it") +
                f" (sizes served: {sizes})")


class FlapReader(threading.Thread):
    """Reads paths until told to stop, mostly those of the newest installed
    version; keeps, per (path, outcome), how often it happened, the earliest
    start and the earliest end of such a read."""

    def __init__(self, root, paths, current, seed, stop):
        super().__init__(daemon=True)
        self.root, self.paths, self.current, self.stop = root, paths, current, stop
        self.rng = random.Random(seed)
        self.outcomes = {}
        self.reads = 0

    def run(self):
        while not self.stop.is_set():
            pool = self.current[0] if self.rng.random() < 0.75 else self.paths
            path = self.rng.choice(pool)
            full = os.path.join(self.root, path)
            t0 = time.monotonic()
            try:
                if path in FLAP_DIRS:
                    outcome = ("ok", tuple(sorted(os.listdir(full))))
                else:
                    with open(full, "rb") as f:
                        outcome = ("ok", f.read())
            except OSError as exc:
                outcome = ("errno", exc.errno)
            except Exception as exc:  # noqa: BLE001 (anything else is a failure too)
                outcome = ("exc", repr(exc))
            t1 = time.monotonic()
            self.reads += 1
            seen = self.outcomes.get((path, outcome))
            if seen is None:
                self.outcomes[(path, outcome)] = [1, t0, t1]
            else:
                seen[0] += 1
                seen[1] = min(seen[1], t0)
                seen[2] = min(seen[2], t1)


@pytest.mark.concurrency
def test_flapping_upstream_under_load(server, mounter):
    """64 readers while the server cycles through ok, 500, too slow, hanging up,
    cutting the answer short, and changing the list.  Every read returns what
    some served version of the list had; nothing fails once a list was fetched
    (but for names a later version removed); the server sees at most 4 tries
    per TTL; the daemon's memory stays flat; it ends on the newest list."""
    duration = FLAP_SECONDS
    versions = flap_versions(int(duration / (0.5 * len(FLAP_PHASES))) + 3)
    views = [flap_view(v) for v in versions]
    paths = sorted({p for view in views for p in view})
    server.set_tokens(versions[0])
    server.keep_history = True
    m = mounter(server.url, f"cache_ttl={FLAP_TTL:g}", f"timeout={FLAP_TIMEOUT}")
    pid = m.proc.pid
    stop = threading.Event()
    installed = [0]  # the versions the controller installed, in order
    current = [sorted(views[0])]  # paths of the newest installed version
    controller_errors = []

    def controller():
        """Each phase lasts 0.5-1 s, and longer (up to 3 s) until at least one
        list request has been answered in it, so that every kind of failure
        and every version of the list does meet the daemon."""
        rng = random.Random(1)
        try:
            for step in range(10**9):
                requests_before = server.count("list")
                phase = FLAP_PHASES[step % len(FLAP_PHASES)]
                if phase == "ok":
                    server.clear_fault()
                elif phase == "500":
                    server.fault("status", code=500)
                elif phase == "slow":
                    server.fault("slow", delay=FLAP_TIMEOUT + 1)
                elif phase in ("drop", "truncated"):
                    server.fault(phase)
                elif len(installed) < len(versions):
                    v = len(installed)
                    server.set_tokens(versions[v])
                    installed.append(v)
                    current[0] = sorted(views[v])
                    server.clear_fault()
                if stop.wait(rng.uniform(0.5, 1.0)):
                    return
                deadline = time.monotonic() + scaled(2.5)
                while (server.count("list") == requests_before and
                       time.monotonic() < deadline):
                    if stop.wait(0.05):
                        return
        except Exception as exc:  # noqa: BLE001
            controller_errors.append(repr(exc))

    server.reset_counts()
    t_start = time.monotonic()
    readers = [FlapReader(str(m.path), paths, current, seed, stop)
               for seed in range(FLAP_READERS)]
    ctl = threading.Thread(target=controller, daemon=True)
    ctl.start()
    for r in readers:
        r.start()
    rss = {}
    time.sleep(min(5.0, duration / 2))
    rss["early"] = proc_status_kib(pid, "VmRSS")
    time.sleep(max(0.0, duration - (time.monotonic() - t_start)))
    stop.set()
    ctl.join(timeout=10)
    for r in readers:
        r.join(timeout=scaled(FLAP_TIMEOUT * 5))
    assert not any(r.is_alive() for r in readers), "a reader is stuck"
    elapsed = time.monotonic() - t_start
    server.clear_fault()
    rss["end"] = proc_status_kib(pid, "VmRSS")
    requests = server.count("list")
    history = server.history("list")
    assert not controller_errors, controller_errors

    oracle = FlapOracle(versions, history)
    totals = {}
    problems = []
    for r in readers:
        for (path, outcome), (n, t0, t1) in r.outcomes.items():
            key = "ok" if outcome[0] == "ok" else oracle.describe(path, outcome, t1)
            totals[key] = totals.get(key, 0) + n
            if outcome[0] == "errno" and outcome[1] in (errno.EIO, errno.ETIMEDOUT):
                # Only before any list was ever fetched.
                if t0 >= oracle.first_list_at:
                    problems.append(f"{path}: {n} x {key}, one of them started "
                                    f"{t0 - oracle.first_list_at:.3f} s after a list was "
                                    "fetched")
            elif oracle.since(path, outcome) > t1:
                problems.append(f"{path}: {n} x {oracle.describe(path, outcome, t1)}")
    reads = sum(r.reads for r in readers)
    fetch_bound = math.ceil(elapsed / FLAP_TTL) + 1
    request_bound = fetch_bound * 4 + 4
    answers = {}
    for h in history:
        answers[h["fault"] or "ok"] = answers.get(h["fault"] or "ok", 0) + 1
    print(f"\nflapping: {elapsed:.1f} s, {FLAP_READERS} readers, {reads} reads: {totals}\n"
          f"  {requests} list requests (bound {request_bound} = {fetch_bound} fetches x 4 + 4),"
          f" answered {answers}\n"
          f"  versions installed {installed}, served {sorted(oracle.served)}\n"
          f"  daemon VmRSS at {min(5.0, duration / 2):g} s {rss['early']} KiB, "
          f"at the end {rss['end']} KiB")
    assert not problems, f"{len(problems)} kinds of wrong read:\n" + "\n".join(problems[:25])
    assert reads > FLAP_READERS * 10
    # The run meant something: the list changed under the readers, and every
    # kind of failure met the daemon.
    assert len(oracle.served) >= min(3, len(installed)), f"served {sorted(oracle.served)}"
    assert {"ok", "status", "slow", "drop", "truncated"} <= set(answers), answers
    # Bounded load on the server: one fetch per TTL, at most 4 tries each.
    assert requests <= request_bound
    # Alive, and back on the newest list once the server behaves.
    assert m.proc.poll() is None
    newest = views[installed[-1]]
    wait_until(lambda: m.p("tokens.json").read_bytes() == newest["tokens.json"], scaled(10),
               "the mount serves the newest list")
    assert tuple(sorted(os.listdir(m.p("tokens")))) == newest["tokens"]
    if PLAIN_BUILD:
        assert rss["end"] - rss["early"] <= 8 * 1024, f"VmRSS grew: {rss}"


def test_a_file_held_open_across_a_refresh_does_not_cut_new_reads_short(server, mounter):
    """What the flapping test runs into, step by step: a reader holds
    tokens.json open (on the old list) while the list grows upstream; after
    the refresh, a fresh `cat tokens.json` must get the whole new list."""
    m = mounter(server.url, "cache_ttl=2")
    held = open(m.p("tokens.json"), "rb", buffering=0)  # noqa: SIM115 (held on purpose)
    try:
        old = m.p("tokens.json").read_bytes()
        tokens = server.tokens()
        tokens[0]["Name"] = "Teams integration, renamed"
        server.set_tokens(tokens)
        new = encode_json(tokens) + b"\n"
        assert len(new) > len(old)
        time.sleep(2.2)  # the TTL passes
        # Refreshed (an access waits 1 s at most for it, then gets the old list).
        wait_until(lambda: "Teams integration, renamed" in os.listdir(m.p("by-name")),
                   scaled(10), "the refresh")
        # The open file keeps reading the list it was opened on...
        assert held.read(1 << 20) == old
    finally:
        held.close()
    # ...and that must not leak into anyone else's reads.
    assert m.p("tokens.json").read_bytes() == new


def test_a_file_opened_before_a_refresh_reads_its_list_whole(server, mounter):
    """The other way round: an open file keeps reading the list it was opened
    on, all of it, even once the kernel has heard of a shorter new one; a
    file read in two calls with the refresh between them reads one version."""
    m = mounter(server.url, "cache_ttl=2")
    held = open(m.p("tokens", "1", "name"), "rb", buffering=0)  # noqa: SIM115
    try:
        assert held.read(5) == b"Teams"
        tokens = server.tokens()
        tokens[0]["Name"] = "T"
        server.set_tokens(tokens)
        time.sleep(2.2)  # the TTL passes
        wait_until(lambda: os.stat(m.p("tokens", "1", "name")).st_size == 2, scaled(10),
                   'the refresh: "T\\n"')
        assert held.read(1 << 20) == b" integ\n"
    finally:
        held.close()
    assert m.p("tokens", "1", "name").read_bytes() == b"T\n"
