"""Expiry at a glance: clock-derived files, the expiring/ and expired/ views,
status, synergyfs --refresh, metrics.prom (scraped by a real node_exporter)
and SIGHUP."""

import errno
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import eventually, scaled
from standin import GUID, format_time
from test_tree import ROOT_ENTRIES

TZ = timezone(timedelta(hours=8))
# Seconds until the "ticking" token expires in the test that waits for it
# (see there: longer when the mount and the first reads did not fit).
TICK = scaled(3)
# For the tests that do not wait: an hour, which no run is that slow for.
HOUR = 3600


def pat(tid, name, expiry, created=None, user=1):
    created = created or datetime(2025, 3, 14, 10, 53, 38, 823000, tzinfo=TZ)
    return {"UserID": {"_id": user, "_server_id": 1, "_server_guid": GUID,
                       "IDString": f"{user}_1"},
            "CreatedOn": format_time(created), "Expiry": format_time(expiry, 2),
            "Name": name, "ExpiryReminderState": 0, "ID": tid}


def expiry_list(now, tick=HOUR):
    """Tokens around now: expired, expiring in tick seconds, in 3 days, in 7.5 days, in 90 days."""
    return [
        pat(1, "old", now - timedelta(days=2, hours=1)),
        pat(2, "ticking", now + timedelta(seconds=tick)),
        pat(3, "soon", now + timedelta(days=3, hours=1)),
        pat(4, "next week", now + timedelta(days=7, hours=12)),
        pat(5, "fine", now + timedelta(days=90)),
        pat(6, "soon", now + timedelta(days=1)),
    ]


@pytest.fixture
def clocked(server, mounter):
    now = datetime.now(TZ)
    tokens = expiry_list(now)  # "ticking" expires in an hour
    server.set_tokens(tokens)
    m = mounter(server.url, "cache_ttl=60")
    return m, tokens


def epoch(text):
    return datetime.fromisoformat(text).timestamp()


def test_per_token_expiry_files(clocked, server):
    m, tokens = clocked
    for t in tokens:
        d = m.p("tokens", str(t["ID"]))
        exp = epoch(t["Expiry"])
        assert (d / "expiry_epoch").read_text() == f"{math.floor(exp)}\n"
        left = exp - time.time()
        days = int((d / "days_left").read_text())
        assert days == math.floor(left / 86400) or abs(left % 86400) < 2, (t["Name"], days)
        assert (d / "expired").read_text() == ("1\n" if left <= 0 else "0\n")
        for f in ("expiry_epoch", "days_left", "expired"):
            assert os.stat(d / f).st_size == len((d / f).read_bytes())
    assert m.p("tokens", "1", "days_left").read_text() == "-3\n"
    assert m.p("tokens", "3", "days_left").read_text() == "3\n"
    assert m.p("tokens", "5", "days_left").read_text() == "90\n" or \
        m.p("tokens", "5", "days_left").read_text() == "89\n"


def before_the_tick(m):
    """Whether the ticking token reads as not expired yet, everywhere."""
    d = m.p("tokens", "2")
    return ((d / "expired").read_text() == "0\n" and (d / "days_left").read_text() == "0\n"
            and os.path.islink(m.p("expiring", "ticking"))
            and not os.path.lexists(m.p("expired", "ticking")))


def test_expired_flips_without_a_fetch(server, mounter):
    # The token must be read before it expires: when mounting and reading
    # took longer than the tick (a slow daemon), try again with a longer one.
    tick = TICK
    for attempt in range(4):
        server.set_tokens(expiry_list(datetime.now(TZ), tick))
        server.reset_counts()
        m = mounter(server.url, "cache_ttl=3600", name=f"tick{attempt}")
        expiry = epoch(server.tokens()[1]["Expiry"])
        if before_the_tick(m):
            break
        # Expired already: right only if its time has come.
        assert time.time() >= expiry - 0.01, "expired before its time"
        tick *= 4
    else:
        pytest.fail(f"could not read the token within {tick / 4:g} s of mounting")
    d = m.p("tokens", "2")
    time.sleep(max(0.0, expiry - time.time()) + 0.5)
    assert (d / "expired").read_text() == "1\n"
    assert (d / "days_left").read_text() == "-1\n"
    assert "ticking" in os.listdir(m.p("expired"))
    assert "ticking" not in os.listdir(m.p("expiring"))
    assert os.path.islink(m.p("expired", "ticking"))
    assert not os.path.lexists(m.p("expiring", "ticking"))
    assert server.count("list") == 1  # the clock did it, not a fetch


def test_views_are_symlink_farms(clocked):
    m, _ = clocked
    assert sorted(os.listdir(m.p("expired"))) == ["old"]
    assert sorted(os.listdir(m.p("expiring"))) == ["soon~3", "soon~6", "ticking"]
    assert os.readlink(m.p("expiring", "soon~3")) == "../tokens/3"
    assert m.p("expiring", "soon~6", "name").read_text() == "soon\n"
    assert m.p("expired", "old", "id").read_text() == "1\n"
    out = subprocess.run(["ls", "-l", str(m.p("expiring"))], capture_output=True, text=True)
    assert "ticking -> ../tokens/2" in out.stdout
    with pytest.raises(FileNotFoundError):
        os.lstat(m.p("expiring", "fine"))


def test_expiring_days_option(server, mounter):
    now = datetime.now(TZ)
    server.set_tokens(expiry_list(now))
    m = mounter(server.url, "expiring_days=30")
    assert sorted(os.listdir(m.p("expiring"))) == ["next week", "soon~3", "soon~6", "ticking"]
    m0 = mounter(server.url, "expiring_days=0")
    assert os.listdir(m0.p("expiring")) == []


def read_status(m):
    text = m.p("status").read_text()
    assert os.stat(m.p("status")).st_size > 0
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


@pytest.mark.fault
def test_status_reports_health(server, mounter, token):
    m = mounter(server.url, "cache_ttl=1")
    st = read_status(m)
    assert st["server"] == server.url and st["cache_ttl"] == "1"
    # Nothing has asked for the list yet, and status never waits for it.
    assert st["last_attempt"] == "never" and st["last_result"] == "none"
    assert st["fetches_ok"] == "0" and st["fetches_failed"] == "0"
    os.listdir(m.p("tokens"))
    st = read_status(m)
    assert st["stale"] == "no" and st["last_result"] == "ok" and st["last_error"] == "none"
    assert st["tokens"] == "10"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", st["last_success"])
    requests_before = int(st["requests"])
    server.fault("status", code=500)
    time.sleep(1.1)
    os.listdir(m.p("tokens"))  # served stale
    # The access waits 1 s at most; the 4 tries take 1.75 s and more.

    def stale():
        st = read_status(m)
        return st if st["stale"] == "yes" else None

    st = eventually(stale, 10)
    assert st, read_status(m)
    assert st["stale"] == "yes" and st["last_result"] == "http"
    assert "HTTP 500" in st["last_error"]
    assert int(st["requests"]) >= requests_before + 4  # the retries are requests too
    assert token not in m.p("status").read_text()
    text = m.p("status").read_text()
    assert subprocess.run(["grep", "-q", "^stale: yes$", str(m.p("status"))]).returncode == 0
    assert text.endswith("\n")


@pytest.mark.fault
def test_status_clears_last_error_once_a_fetch_succeeds(server, mounter):
    m = mounter(server.url, "cache_ttl=3600")
    os.listdir(m.p("tokens"))
    server.fault("status", code=503)
    assert m.refresh_error() == os.strerror(errno.EIO)
    st = read_status(m)
    assert st["last_result"] == "http" and "HTTP 503" in st["last_error"]
    assert st["previous_error"] == "none"
    server.clear_fault()
    m.refreshed()
    st = read_status(m)
    # A grep for errors stops matching once the mount has recovered...
    assert st["last_result"] == "ok" and st["stale"] == "no"
    assert st["last_error"] == "none"
    # ...and what went wrong last stays visible, with when it did.
    assert re.fullmatch(r".*HTTP 503.* \(at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)",
                        st["previous_error"]), st["previous_error"]
    metrics = m.p("metrics.prom").read_text()
    assert "synergyfs_stale 0\n" in metrics


@pytest.mark.fault
def test_status_and_metrics_readable_while_the_server_is_down(server, mounter):
    url = server.url
    server.stop()
    m = mounter(url)
    with pytest.raises(OSError) as exc:  # status never waits for the failure: an access does
        os.listdir(m.p("tokens"))
    assert exc.value.errno == errno.ECONNREFUSED
    st = read_status(m)
    assert st["tokens"] == "0" and "refused" in st["last_error"]
    assert "synergyfs_fetches_total{result=\"error\"}" in m.p("metrics.prom").read_text()


def test_refresh_fetches_exactly_once_and_returns_with_the_new_list_shown(server, mounter):
    """Each synergyfs --refresh sends one request, whatever the TTL, and
    returns once the new list is served and the kernel told: a new open and
    a new listing show it at once, though the kernel had cached the old."""
    m = mounter(server.url, "cache_ttl=3600")
    assert sorted(os.listdir(m.path)) == ROOT_ENTRIES  # no refresh file
    names = m.p("tokens", "1", "name")
    assert names.read_text() == "Teams integ\n"
    assert server.count("list") == 1
    for n in range(2, 5):
        new = server.add_token(f"fresh {n}", expire_in_days=5)
        tokens = server.tokens()
        tokens[0]["Name"] = f"Teams integ {n}"
        server.set_tokens(tokens)
        m.refreshed()
        assert server.count("list") == n
        assert str(new["ID"]) in os.listdir(m.p("tokens"))
        assert m.p("by-name", f"fresh {n}", "name").read_text() == f"fresh {n}\n"
        assert names.read_text() == f"Teams integ {n}\n"
        assert server.count("list") == n


@pytest.mark.fault
def test_refresh_reports_a_rejected_token(server, mounter):
    m = mounter(server.url, "timeout=1")
    server.set_token("rotated")
    assert m.refresh_error() == "Permission denied"
    assert server.count("list") == 1


@pytest.mark.fault
def test_refresh_timeout_is_etimedout(server, mounter, token):
    m = mounter(server.url, "timeout=1")
    server.fault("slow", delay=5)
    assert m.refresh_error() == os.strerror(errno.ETIMEDOUT)


@pytest.mark.fault
def test_refresh_of_a_server_gone_is_econnrefused(server, mounter):
    m = mounter(server.url, "cache_ttl=3600")
    assert "1" in os.listdir(m.p("tokens"))
    server.stop()
    assert m.refresh_error() == os.strerror(errno.ECONNREFUSED)
    # The list it had is still served (stale-if-error).
    assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"


def test_no_file_takes_writes(mount):
    for path in (mount.p("status"), mount.p("metrics.prom"), mount.p("tokens", "1", "expired"),
                 mount.p("tokens.json")):
        with pytest.raises(OSError) as exc:
            open(path, "w")
        assert exc.value.errno == errno.EROFS
    with pytest.raises(OSError) as exc:
        open(mount.p("refresh"), "w")
    assert exc.value.errno == errno.EROFS
    assert not os.path.exists(mount.p("refresh"))


def test_sighup_rereads_the_token_file(server, mounter, token_file):
    m = mounter(server.url, "cache_ttl=3600")
    assert "1" in os.listdir(m.p("tokens"))
    server.set_token("rotated-token")
    token_file.write_text("rotated-token\n")
    server.add_token("after rotation", expire_in_days=3)
    m.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + scaled(5)
    while time.monotonic() < deadline and "after rotation" not in os.listdir(m.p("by-name")):
        time.sleep(0.1)
    assert "after rotation" in os.listdir(m.p("by-name"))
    assert server.auth_headers[-1] == "Bearer rotated-token"
    assert m.proc.poll() is None  # SIGHUP no longer ends the daemon
    assert "token read again" in m.log()
    assert "rotated-token" not in m.log()


def parse_prom(text):
    """{(name, frozenset(labels)): value} from the text format, checking its shape."""
    series, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        mt = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
        assert mt, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', mt.group(3) or ""))
        assert mt.group(1) in typed, f"{mt.group(1)} has no TYPE line before it"
        series[(mt.group(1), labels)] = float(mt.group(4))
    return series


def test_metrics_prom_values(clocked, server):
    m, tokens = clocked
    os.listdir(m.p("tokens"))  # metrics.prom never waits for a fetch: have one
    text = m.p("metrics.prom").read_text()
    assert os.stat(m.p("metrics.prom")).st_size > 0
    s = parse_prom(text)
    for t in tokens:
        labels = frozenset({("id", str(t["ID"])), ("name", t["Name"]), ("user", "1_1")})
        assert s[("synergy_pat_expiry_timestamp_seconds", labels)] == pytest.approx(
            epoch(t["Expiry"]), abs=0.01)
        assert s[("synergy_pat_created_timestamp_seconds", labels)] == pytest.approx(
            epoch(t["CreatedOn"]), abs=0.001)
        assert s[("synergy_pat_expired", labels)] == (1 if t["ID"] == 1 else 0)
    assert s[("synergyfs_tokens", frozenset())] == len(tokens)
    assert s[("synergyfs_stale", frozenset())] == 0
    assert s[("synergyfs_fetches_total", frozenset({("result", "ok")}))] == 1
    assert abs(s[("synergyfs_last_success_timestamp_seconds", frozenset())] - time.time()) < 60
    for name in ("synergy_pat_expiry_timestamp_seconds", "synergyfs_fetches_total"):
        assert f"# HELP {name} " in text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_node_exporter_textfile_collector_publishes_it(server, mounter):
    exe = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    assert exe, "prometheus-node-exporter is not installed (scripts/test installs it)"
    tokens = server.tokens()
    tokens[0]["Name"] = 'quote " back\\slash'
    # One token expired a day ago, one expires in 30 days, whatever today is.
    now = datetime.now(TZ)
    by_id = {t["ID"]: t for t in tokens}
    by_id[12]["Expiry"] = format_time(now - timedelta(days=1))
    by_id[10]["Expiry"] = format_time(now + timedelta(days=30))
    server.set_tokens(tokens)
    m = mounter(server.url)
    os.listdir(m.p("tokens"))  # metrics.prom never fetches: it shows what there is
    port = free_port()
    proc = subprocess.Popen([exe, "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={m.path}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # node_exporter is the mount's only reader: its first scrape starts
        # the fetch (metrics.prom never waits), a later one shows the list.
        body = None
        deadline = time.monotonic() + scaled(15)
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=5).read().decode()
                if "synergyfs_tokens 10" in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert body is not None, "node_exporter did not answer"
        assert "node_textfile_scrape_error 0" in body
        assert re.search(r'synergy_pat_expiry_timestamp_seconds\{id="1",name="quote \\" '
                         r'back\\\\slash",user="1_1"\} 1\.757472818(67)?e\+09', body), body[:3000]
        assert re.search(r'synergy_pat_expired\{id="12",name="L{300}",user="2_1"\} 1\n', body)
        assert re.search(r'synergy_pat_expired\{id="10",name="[^"]*",user="[^"]*"\} 0\n', body)
        assert 'synergyfs_tokens 10' in body
        assert re.search(r'synergyfs_fetches_total\{result="ok"\} 1', body)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
