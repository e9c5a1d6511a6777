"""Fetching and caching: one request per TTL, single flight, upstream changes."""

import os
import subprocess
import threading
import time

import pytest

from conftest import eventually, most_in_flight, scaled
from standin import copy_json, generate_tokens

# TTLs for tests that need a series of accesses to fit inside one TTL: longer
# when the daemon is slow (sanitizers, valgrind); the exact value does not matter.
TTL2 = round(scaled(2))
TTL1 = round(scaled(1))


def test_mounting_and_stat_of_the_root_cost_no_request(server, mounter):
    m = mounter(server.url, "cache_ttl=60")
    os.stat(m.path)
    subprocess.run(["mountpoint", "-q", str(m.path)], check=True)
    subprocess.run(["df", str(m.path)], check=True, capture_output=True)
    assert server.count("list") == 0
    # No fetch was even started (one started in the background would show
    # here at once, however slow the daemon is to send it): status says what
    # was so when it was opened (the open then starts a due fetch).
    status = m.p("status").read_text().splitlines()
    assert "fetching: no" in status and "last_attempt: never" in status, status
    os.listdir(m.p("tokens"))
    assert server.count("list") == 1


def test_one_request_per_ttl(server, mounter):
    m = mounter(server.url, f"cache_ttl={TTL2}")
    start = time.monotonic()
    for _ in range(3):
        subprocess.run(["ls", "-lR", str(m.path)], check=True, capture_output=True)
        subprocess.run(["grep", "-r", "x", str(m.path)], capture_output=True)
    # One fetch, and one more per TTL that a slow run's walks outlasted.
    fetches = server.count("list")
    assert 1 <= fetches <= 1 + (time.monotonic() - start) // TTL2
    time.sleep(TTL2 + 0.3)
    assert m.p("tokens", "1", "id").read_text() == "1\n"
    # The access waits refresh_wait (1 s) at most: the request may come after.
    assert eventually(lambda: server.count("list") == fetches + 1, 5), server.count("list")


def test_absent_names_cost_nothing_while_fresh(server, mounter):
    m = mounter(server.url, "cache_ttl=30")
    os.listdir(m.p("tokens"))
    for _ in range(20):
        assert not os.path.exists(m.p("tokens", "nope"))
        assert not os.path.exists(m.p("by-name", "nope"))
        subprocess.run(["ls", str(m.p("tokens", "424242"))], capture_output=True)
    assert server.count("list") == 1


def parallel_cats(path, n=32):
    procs = [subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(n)]
    return [p.communicate(timeout=scaled(30)) + (p.returncode,) for p in procs]


# First accesses that reach the daemon at once: the kernel sends one lookup
# at a time per folder (libfuse 3.14 never grants parallel lookups), but
# lookups in different folders, a folder's attributes, opens of folders and
# files each go their own way.
FIRST_ACCESSES = (
    lambda m: os.stat(m.p("tokens", "1")),
    lambda m: os.stat(m.p("tokens")),
    lambda m: os.listdir(m.p("tokens")),
    lambda m: os.stat(m.p("by-name", "Teams integ")),
    lambda m: os.listdir(m.p("by-name")),
    lambda m: m.p("tokens.json").read_bytes(),
)


def no_second_fetch(server):
    """A second fetch asked for while the first was in flight starts, at the
    latest, as the first ends (before any access gets its answer): its
    request is on its way by now."""
    return not server.wait_for_count("list", 2, timeout=scaled(1.5))


@pytest.mark.concurrency
def test_single_flight_on_first_access(server, mounter):
    m = mounter(server.url, "cache_ttl=60", extra_args=["-d"])
    os.listdir(m.path)  # the root is served without the list
    server.fault("slow", count=1, delay=2.0)
    failed = []

    def access(f):
        try:
            f(m)
        except OSError as exc:
            failed.append(exc)

    threads = [threading.Thread(target=access, args=(f,)) for f in FIRST_ACCESSES * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed, failed
    # They waited for the fetch together (2 s is long enough for every
    # thread to be in, however slow this machine is to start them).
    assert most_in_flight(m.log()) >= 4, m.log()
    assert server.count("list") == 1
    assert no_second_fetch(server), server.count("list")
    results = parallel_cats(m.p("tokens", "1", "name"))
    assert all(r == (b"Teams integ\n", b"", 0) for r in results), results
    assert server.count("list") == 1


@pytest.mark.concurrency
def test_single_flight_after_expiry(server, mounter):
    m = mounter(server.url, f"cache_ttl={TTL1}")
    assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"
    time.sleep(TTL1 + 0.2)
    server.fault("slow", count=1, delay=1.0)
    start = time.monotonic()
    results = parallel_cats(m.p("tokens", "1", "expiry"))
    elapsed = time.monotonic() - start
    assert all(r[0] == b"2025-09-10T10:53:38.67+08:00\n" and r[2] == 0 for r in results)
    # One refresh for all (and one per TTL the cats of a slow run outlast).
    assert 2 <= server.count("list") <= 1 + 1 + elapsed // TTL1


@pytest.mark.concurrency
def test_threads_in_one_process_share_one_fetch(server, mounter):
    m = mounter(server.url, "cache_ttl=60", extra_args=["-d"])
    os.listdir(m.path)
    server.fault("slow", count=1, delay=2.0)
    out, lock = [], threading.Lock()

    def reader(tid):
        body = m.p("tokens", str(tid), "id").read_text()
        with lock:
            out.append(body)

    # Readers of files in different folders (tokens/ and by-name/), and
    # folder attributes: each reaches the daemon while the fetch is in flight.
    def by_name():
        body = m.p("by-name", "Teams integ", "id").read_text()
        with lock:
            out.append(body)

    threads = [threading.Thread(target=reader, args=(t,)) for t in (1, 2, 3, 4) * 4]
    threads += [threading.Thread(target=by_name) for _ in range(4)]
    threads += [threading.Thread(target=os.stat, args=(m.p("tokens"),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == sorted(["1\n", "2\n", "3\n", "4\n"] * 4 + ["1\n"] * 4)
    assert most_in_flight(m.log()) >= 3, m.log()
    assert server.count("list") == 1
    assert no_second_fetch(server), server.count("list")


def test_removed_token_disappears_after_ttl(server, mounter):
    m = mounter(server.url, f"cache_ttl={TTL2}")
    start = time.monotonic()
    assert "7" in os.listdir(m.p("tokens"))
    assert m.p("tokens", "7", "name").read_text() == "Backup\n"
    server.remove_token(7)
    # Within the TTL the fetched list is still served (if this run got here
    # within it: the list is fresh until TTL2 after its fetch ended).
    asked = time.monotonic()
    listing = os.listdir(m.p("tokens"))
    if asked < start + TTL2:
        assert "7" in listing
    time.sleep(TTL2 + 0.3)
    # The access waits refresh_wait (1 s) at most for the refresh.
    assert eventually(lambda: "7" not in os.listdir(m.p("tokens")), 5)
    with pytest.raises(FileNotFoundError):
        m.p("tokens", "7", "name").read_text()
    # The other Backup is no longer ambiguous.
    assert sorted(n for n in os.listdir(m.p("by-name")) if n.startswith("Backup")) == ["Backup"]
    # One fetch per TTL, however many accesses.
    assert 2 <= server.count("list") <= 1 + (time.monotonic() - start) // TTL2


def test_added_token_appears_after_ttl(server, mounter):
    m = mounter(server.url, "cache_ttl=2")
    assert not os.path.exists(m.p("by-name", "nightly build"))
    new = server.add_token("nightly build", expire_in_days=30)
    time.sleep(2.3)
    # The access waits refresh_wait (1 s) at most for the refresh.
    assert eventually(lambda: str(new["ID"]) in os.listdir(m.p("tokens")), 5)
    assert m.p("by-name", "nightly build", "expiry").read_text() == new["Expiry"] + "\n"


@pytest.mark.concurrency
def test_open_file_keeps_its_snapshot_and_a_new_open_gets_the_newest(server, mounter):
    """A file held open across a refresh reads the version it was opened on,
    whether its token changed or went; a new open of the same path reads
    the newest list."""
    m = mounter(server.url, "cache_ttl=1")
    with open(m.p("tokens", "7", "name"), "rb", buffering=0) as gone, \
            open(m.p("tokens", "1", "name"), "rb", buffering=0) as renamed:
        tokens = server.tokens()
        tokens[0]["Name"] = "Teams integration"
        server.set_tokens(tokens)
        server.remove_token(7)
        time.sleep(1.2)
        # Refreshes (an access waits 1 s at most for it): 7 is gone.
        assert eventually(lambda: "7" not in os.listdir(m.p("tokens")), 5)
        assert not os.path.exists(m.p("tokens", "7"))
        assert m.p("tokens", "1", "name").read_bytes() == b"Teams integration\n"
        assert gone.read(1 << 20) == b"Backup\n"
        assert renamed.read(1 << 20) == b"Teams integ\n"
    # The held versions did not leak into a new open.
    assert m.p("tokens", "1", "name").read_bytes() == b"Teams integration\n"


def test_the_list_a_refresh_replaced_is_let_go_on_time_without_requests(server, mounter):
    """The list a refresh replaced is kept 10 s for the listings begun on it,
    then freed by the daemon itself: not only at the next request."""
    m = mounter(server.url, "cache_ttl=3600", extra_args=["-d"])
    os.listdir(m.p("tokens"))
    # The daemon's 10 s start when fetch 2 ends: after asked, before written.
    asked = time.monotonic()
    m.refreshed()
    refreshed = time.monotonic()
    line = "the list of fetch 1 is no longer kept"
    # No request to the mount from here on; only its log is read.  A read
    # that does not see the line began before it was written; one that sees
    # it ended after.
    deadline = refreshed + 10 + scaled(5)
    while True:
        began = time.monotonic()
        if line in m.log():
            break
        assert began < deadline, "never let go of without a request"
        time.sleep(0.1)
    assert time.monotonic() - asked >= 10, "let go of before its 10 s"


def listing_versions(n):
    """Three lists of n tokens, each listing differently: IDs 1..n; IDs 2..n+1
    (the first gone, one added at the end); IDs 1..n with the first and the
    last token's names swapped (the same names, in other folders)."""
    first = generate_tokens(n)
    shifted = generate_tokens(n, start_id=2)
    swapped = copy_json(first)
    swapped[0]["Name"], swapped[-1]["Name"] = first[-1]["Name"], first[0]["Name"]
    return [first, shifted, swapped]


def listings_of(tokens):
    return {"tokens": tuple(sorted(str(t["ID"]) for t in tokens)),
            "by-name": tuple(sorted(t["Name"] for t in tokens))}


@pytest.mark.concurrency
def test_each_listing_is_one_version_of_the_list_parallel(server, mounter):
    """Readers list tokens/ and by-name/ while the list changes under them and
    is fetched again and again: each listing is exactly one version of the
    list, never the start of one and the end of another.  The folders are
    large enough to take several requests each, so listings overlap with
    refreshes, and with the kernel's copy of a listing that another reader
    is still filling."""
    versions = listing_versions(400)
    allowed = {d: {listings_of(v)[d] for v in versions} for d in ("tokens", "by-name")}
    server.set_tokens(versions[0])
    m = mounter(server.url, "cache_ttl=60")
    stop = threading.Event()
    wrong, errors, done = [], [], [0]

    def change():
        for k in range(10**9):
            server.set_tokens(versions[k % len(versions)])
            out = m.refresh()
            if out.returncode != 0:
                errors.append(f"refresh: {out.stderr.strip()}")
            if stop.wait(0.02):
                return

    def read(folder):
        while not stop.is_set():
            try:
                got = tuple(sorted(os.listdir(m.p(folder))))
            except OSError as exc:
                errors.append(f"{folder}: {exc}")
                continue
            done[0] += 1
            if got not in allowed[folder]:
                wrong.append((folder, got))

    threads = [threading.Thread(target=change, daemon=True)]
    threads += [threading.Thread(target=read, args=(f,), daemon=True)
                for f in ("tokens", "by-name") * 6]
    for t in threads:
        t.start()
    time.sleep(6)
    stop.set()
    for t in threads:
        t.join(scaled(30))
    print(f"\n{done[0]} listings, {server.count('list')} fetches")
    assert not errors, errors[:5]
    assert done[0] > 20
    problems = []
    for folder, got in wrong[:5]:
        want = min(allowed[folder], key=lambda v: len(set(v) ^ set(got)))
        extra = sorted((set(got) - set(want)) | {x for x in got if got.count(x) > 1})
        problems.append(f"{folder}: {len(got)} entries, nearest version has {len(want)}; "
                        f"extra or repeated {extra[:5]}, missing {sorted(set(want) - set(got))[:5]}")
    assert not wrong, f"{len(wrong)} listings of no version:\n" + "\n".join(problems)
