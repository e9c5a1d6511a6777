"""What a reader sees while the list changes: one version of a file, whole.

A refresh lands by the TTL, on demand (`synergyfs --refresh MOUNTPOINT`,
which exits 0 once the new list is served) or by SIGHUP.  A changed file
gets a new inode number; a reader holding a file open reads the version it
opened to its end, however small its reads and however long it holds it
(the page cache may be dropped meanwhile); a new open gets the newest list.

The stand-in serves the versions as fixed bodies (set_raw_list) and keeps a
history of what it served, so that every body a reader gets can be traced
to a list the server really sent.
"""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import BINARY, SANITIZERS, UNDER_VALGRIND, eventually, scaled
from standin import encode_json, generate_tokens

# The token files whose bodies follow from the token's JSON alone (the clock
# files follow from the time too, expiry_epoch from parsing the Expiry).
TOKEN_FILES = {
    "id": lambda t: f"{t['ID']}\n".encode(),
    "name": lambda t: (t["Name"] + "\n").encode(),
    "created_on": lambda t: (t["CreatedOn"] + "\n").encode(),
    "expiry": lambda t: (t["Expiry"] + "\n").encode(),
    "expiry_reminder_state": lambda t: f"{t['ExpiryReminderState']}\n".encode(),
    "user_id": lambda t: (t["UserID"]["IDString"] + "\n").encode(),
    "token.json": lambda t: encode_json(t) + b"\n",
}


def list_versions(count, n):
    """count versions of a list, each of its own length: version k has n + k
    tokens, and each token's name, user and reminder state differ in
    length from one version to the next."""
    out = []
    for k in range(count):
        tokens = generate_tokens(n + k)
        for t in tokens:
            t["Name"] += f"-v{k}" + "~" * (7 * k % 23)
            t["UserID"]["IDString"] = f"{t['UserID']['_id']}_{10 ** (k % 4)}"
            t["ExpiryReminderState"] = 10 ** (k % 3) - 1
        out.append(tokens)
    return out


def bodies_of(tokens):
    """What the mount shows of this list: relative path -> bytes."""
    view = {"tokens.json": encode_json(tokens) + b"\n"}
    for t in tokens:
        for f, body in TOKEN_FILES.items():
            view[f"tokens/{t['ID']}/{f}"] = body(t)
    return view


def refresh_now(m):
    """Ask for a refresh the way a user does; fails unless it exits 0.  The
    client runs without the daemon's wrapper: only the daemon is checked
    under valgrind."""
    out = subprocess.run([str(BINARY), "--refresh", str(m.path)], capture_output=True,
                         text=True, check=False, timeout=scaled(60))
    assert out.returncode == 0, f"synergyfs --refresh exited {out.returncode}: {out.stderr}"


def sighup(m):
    m.proc.send_signal(signal.SIGHUP)


def cat(path):
    with open(path, "rb") as f:
        return f.read()


def served_bodies(server):
    """The list bodies the stand-in sent in full, as it sent them."""
    return {h["body"] for h in server.history("list") if h["body"] is not None}


# ---- (a) readers in small reads while refreshes land -------------------

# How refreshes land: (mount options, what the changer does after each
# change of the server's list, if anything).  cache_ttl=0 is the least the
# option takes: every access that asks the daemon makes the list due, so
# the readers' own lookups refresh it.
WAYS = {
    "ttl": (("cache_ttl=0",), None),
    "command": (("cache_ttl=3600",), refresh_now),
    "sighup": (("cache_ttl=3600",), sighup),
}


def read_in_pieces(path, piece, pause):
    """Read path from a new open, piece bytes a read(2), pausing after each."""
    parts = []
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, piece):
            parts.append(chunk)
            time.sleep(pause)
    finally:
        os.close(fd)
    return b"".join(parts)


# The modes the reads are checked in: a manage mount (-o manage) is no
# read-only mount in the kernel, and must serve whole versions all the same.
MODES = {"plain": (), "manage": ("manage",)}


@pytest.mark.concurrency
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("way", WAYS)
def test_each_document_read_is_one_list_served(server, mounter, way, mode):
    """Readers read tokens.json 4 KiB at a time, pausing after each read,
    while the server's list changes every 20 ms (each version of another
    length) and refreshes land: every document parses and is, byte for
    byte, one list the server sent."""
    versions = [encode_json(v) for v in list_versions(5, 100)]
    server.keep_history = True
    server.set_raw_list(versions[0])
    opts, after_change = WAYS[way]
    m = mounter(server.url, *opts, *MODES[mode])
    assert cat(m.p("tokens.json")) == versions[0] + b"\n"
    stop = threading.Event()
    docs, errors = [], []

    def change():
        k = 0
        while not stop.is_set():
            k += 1
            server.set_raw_list(versions[k % len(versions)])
            try:
                if after_change:
                    after_change(m)
            except (AssertionError, subprocess.TimeoutExpired) as exc:
                errors.append(f"refresh: {exc}")
            stop.wait(0.02)

    def reader():
        while not stop.is_set():
            try:
                docs.append(read_in_pieces(m.p("tokens.json"), 4096, 0.002))
            except OSError as exc:
                errors.append(f"read: {exc}")

    readers = 2 if UNDER_VALGRIND else 4
    threads = [threading.Thread(target=change)]
    threads += [threading.Thread(target=reader) for _ in range(readers)]
    for t in threads:
        t.start()
    time.sleep(scaled(3))
    stop.set()
    for t in threads:
        t.join(scaled(60))
    assert not any(t.is_alive() for t in threads), "a reader or the changer hangs"
    assert not errors, errors[:5]
    served = served_bodies(server)
    assert served <= set(versions)
    wrong = [d for d in docs if not d.endswith(b"\n") or d[:-1] not in served]
    for d in wrong[:3]:
        try:
            json.loads(d)
            why = "valid JSON, but no list served"
        except ValueError as exc:
            why = f"not JSON: {exc}"
        print(f"{len(d)} bytes: {why}; served lengths {sorted(len(v) + 1 for v in served)}")
    assert not wrong, f"{len(wrong)} of {len(docs)} documents are no list served"
    seen = set(docs)
    for d in seen:
        json.loads(d)
    # The refreshes landed while the readers read: they saw the list change.
    print(f"\n{len(docs)} documents, {len(seen)} versions seen, "
          f"{server.count('list')} fetches")
    assert len(seen) >= 2, f"{len(docs)} documents, all of one version"


# ---- (b), (c) a reader holding a file across refreshes ------------------

HOLD_WAYS = {"command": refresh_now, "sighup": sighup}


def held_versions():
    """Three versions of a list of 300 tokens: token 7's name is long
    (thousands of bytes, so that half of it is many small reads) and of
    another length in each, and so is tokens.json."""
    versions = list_versions(3, 300)
    for k, v in enumerate(versions):
        v[6]["Name"] = f"held-{k}-" + "n" * (3000 + 500 * k)
    return versions


def refresh_to(server, m, tokens, ask, path):
    """Serve tokens, have ask() refresh the mount, and wait until a new open
    of path reads it."""
    server.set_tokens(tokens)
    want = bodies_of(tokens)[str(path.relative_to(m.path))]
    ask(m)
    if ask is refresh_now:
        # --refresh exits once the new list is served: no waiting.
        assert cat(path) == want
    else:
        assert eventually(lambda: cat(path) == want, 10), "the refresh never landed"


@pytest.mark.parametrize("reclaim", [False, True], ids=["cached", "reclaimed"])
@pytest.mark.parametrize("way", HOLD_WAYS)
@pytest.mark.parametrize("rel", ["tokens.json", "tokens/7/name"])
def test_a_held_file_reads_its_version_to_the_end(server, mounter, rel, way, reclaim):
    """A reader reads half of a file in small reads, two refreshes change
    it (a new open sees each), and the reader reads on: it gets exactly the
    version it opened, whole.  "reclaimed": the page cache of the held file
    is dropped meanwhile (as memory pressure does), so the rest is read
    from the daemon."""
    versions = held_versions()
    server.set_tokens(versions[0])
    m = mounter(server.url, "cache_ttl=3600")
    path = m.p(rel)
    old = bodies_of(versions[0])[rel]
    piece = 100 if rel.endswith("name") else 1000
    fd = os.open(path, os.O_RDONLY)
    try:
        first = b""
        while len(first) < len(old) // 2:
            chunk = os.read(fd, piece)
            assert chunk, f"end of file after {len(first)} of {len(old)} bytes"
            first += chunk
        for tokens in versions[1:]:
            refresh_to(server, m, tokens, HOLD_WAYS[way], path)
        if reclaim:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        rest = b""
        while chunk := os.read(fd, piece):
            rest += chunk
        held_size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    got = first + rest
    assert len(got) == len(old), f"read {len(got)} bytes of a version of {len(old)}"
    assert got == old
    assert held_size == len(old)  # the open file's inode is that version's
    assert cat(path) == bodies_of(versions[-1])[rel]


def test_a_changed_file_has_a_new_inode(server, mounter):
    """A new lookup of a changed file finds another inode than the one an
    open file holds, which keeps its own number and size."""
    versions = held_versions()
    server.set_tokens(versions[0])
    m = mounter(server.url, "cache_ttl=3600")
    rels = ["tokens.json", "tokens/7/name", "tokens/7/token.json"]
    held = {rel: os.open(m.p(rel), os.O_RDONLY) for rel in rels}
    try:
        before = {rel: os.fstat(fd) for rel, fd in held.items()}
        assert len({st.st_ino for st in before.values()}) == len(rels)
        server.set_tokens(versions[1])
        refresh_now(m)
        for rel, fd in held.items():
            now = os.stat(m.p(rel))
            kept = os.fstat(fd)
            assert now.st_ino != kept.st_ino, rel
            assert kept.st_ino == before[rel].st_ino, rel
            assert kept.st_size == len(bodies_of(versions[0])[rel]), rel
            assert now.st_size == len(bodies_of(versions[1])[rel]), rel
    finally:
        for fd in held.values():
            os.close(fd)


def status_of(m):
    """The mount's status file as a dict."""
    return dict(line.split(": ", 1) for line in cat(m.p("status")).decode().splitlines())


def test_a_file_held_across_many_refreshes_keeps_its_version(server, mounter):
    """More refreshes than the daemon keeps lists for listings (4, for 10 s)
    change a file held open; its page cache dropped, the reader still reads
    the version it opened, from the list kept for it alone.  Closed, the
    file lets that list go: the kernel forgets the inode, the daemon the
    list."""
    versions = list_versions(7, 300)
    for k, v in enumerate(versions):
        v[6]["Name"] = f"held-{k}-" + "n" * (3000 + 300 * k)
    server.set_tokens(versions[0])
    m = mounter(server.url, "cache_ttl=3600")
    rels = ["tokens/7/name", "tokens.json"]
    old = {rel: bodies_of(versions[0])[rel] for rel in rels}
    fds = {rel: os.open(m.p(rel), os.O_RDONLY) for rel in rels}
    try:
        first = {rel: os.read(fd, len(old[rel]) // 2) for rel, fd in fds.items()}
        for tokens in versions[1:]:
            server.set_tokens(tokens)
            refresh_now(m)
            assert cat(m.p("tokens/7/name")) == bodies_of(tokens)["tokens/7/name"]
            # The versions read on the way are let go of (the kernel forgets
            # them once their names are looked up anew): one list is kept.
            assert eventually(lambda: status_of(m)["old_lists_kept"] == "1", scaled(10)), \
                status_of(m)
        rest = {}
        for rel, fd in fds.items():
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            rest[rel] = b""
            while chunk := os.read(fd, 1000):
                rest[rel] += chunk
    finally:
        for fd in fds.values():
            os.close(fd)
    for rel in rels:
        assert first[rel] + rest[rel] == old[rel], rel
    assert eventually(lambda: status_of(m)["old_lists_kept"] == "0", scaled(10)), status_of(m)


# ---- (d) the 64-reader load ---------------------------------------------

# 64 readers for 30 s on a plain build.  A sanitizer build runs every
# request several times slower, and CI runs the sanitizer and valgrind
# builds side by side on 2 cores; valgrind also runs the daemon's threads
# one at a time, 20-50 times slower: there, 64 readers would only queue
# behind each other and fill the time with waiting, while fewer readers
# still meet every refresh.  Every read is checked the same everywhere.
if UNDER_VALGRIND:
    LOAD_READERS, LOAD_SECONDS = 4, 8
elif SANITIZERS != "none":
    LOAD_READERS, LOAD_SECONDS = 16, 12
else:
    LOAD_READERS, LOAD_SECONDS = 64, 30
LOAD_IDS = (1, 2, 3, 50, 99, 150)


@pytest.mark.concurrency
def test_64_readers_read_only_versions_served(server, mounter):
    """Readers open token files and tokens.json and read each with one
    read(2) of 1 MiB, while on-demand refreshes and SIGHUPs land and the
    list switches between versions of different lengths: every read is the
    whole of one version of that file the server served, nothing else."""
    lists = list_versions(6, 150)
    bodies = [encode_json(v) for v in lists]
    views = [bodies_of(v) for v in lists]
    paths = ["tokens.json"] + [f"tokens/{i}/{f}" for i in LOAD_IDS for f in TOKEN_FILES]
    # path -> body -> the versions it is the body of
    which = {p: {} for p in paths}
    for k, view in enumerate(views):
        for p in paths:
            which[p].setdefault(view[p], set()).add(k)
    changing = [p for p in paths if len({len(b) for b in which[p]}) > 1]
    assert len(changing) == 1 + 4 * len(LOAD_IDS)  # and id, created_on, expiry do not
    server.keep_history = True
    server.set_raw_list(bodies[0])
    m = mounter(server.url, "cache_ttl=3600")
    stop = threading.Event()
    lock = threading.Lock()
    seen = {p: set() for p in paths}  # path -> the bodies read (as version sets)
    wrong, errors, reads = [], [], [0]

    def read_loop(start):
        n = start
        while not stop.is_set():
            p = paths[n % len(paths)]
            n += 1
            try:
                fd = os.open(m.p(p), os.O_RDONLY)
                try:
                    got = os.read(fd, 1 << 20)
                finally:
                    os.close(fd)
            except OSError as exc:
                with lock:
                    errors.append(f"{p}: {exc}")
                continue
            k = which[p].get(got)
            with lock:
                reads[0] += 1
                if k is None:
                    wrong.append((p, got))
                else:
                    seen[p].add(frozenset(k))

    def change(ask, first):
        k = first
        while not stop.is_set():
            k += 1
            server.set_raw_list(bodies[k % len(bodies)])
            try:
                ask(m)
            except (AssertionError, subprocess.TimeoutExpired) as exc:
                errors.append(f"refresh: {exc}")
            stop.wait(0.02)

    threads = [threading.Thread(target=change, args=(refresh_now, 0)),
               threading.Thread(target=change, args=(sighup, 3))]
    threads += [threading.Thread(target=read_loop, args=(i,)) for i in range(LOAD_READERS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    stop.set()
    for t in threads:
        t.join(scaled(60))
    assert not any(t.is_alive() for t in threads), "a reader or a refresher hangs"
    print(f"\n{reads[0]} reads by {LOAD_READERS} readers in {LOAD_SECONDS} s, "
          f"{server.count('list')} fetches")
    assert not errors, errors[:5]
    problems = []
    for p, got in wrong[:5]:
        lengths = sorted({len(b) for b in which[p]})
        problems.append(f"{p}: {len(got)} bytes {got[:60]!r}...; versions have {lengths}")
    assert not wrong, f"{len(wrong)} of {reads[0]} reads are no version:\n" + "\n".join(problems)
    # Each body read is that of a version the server really sent.
    served = {k for k, b in enumerate(bodies) if b in served_bodies(server)}
    unsent = {p: ks for p in paths for ks in seen[p] if not ks & served}
    assert not unsent, f"bodies of versions never served: {unsent}"
    # The refreshes landed while the readers read.
    assert len(seen["tokens.json"]) >= 2, "every tokens.json read was of one version"
    assert reads[0] >= LOAD_READERS
