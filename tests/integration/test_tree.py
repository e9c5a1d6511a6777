"""The tree a user sees: ls, cat, stat, find, grep on a real mount."""

import errno
import json
import os
import stat
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from standin import DEFAULT_TOKENS, encode_json, generate_tokens

FILES = ["created_on", "days_left", "expired", "expiry", "expiry_epoch",
         "expiry_reminder_state", "id", "name", "token.json", "user_id"]
ROOT_ENTRIES = ["by-name", "expired", "expiring", "metrics.prom", "new", "status", "tokens",
                "tokens.json"]
ROOT_FILES = ["metrics.prom", "status", "tokens.json"]

EXPECTED_BY_NAME = {
    "Teams integ": 1,
    "asddadas": 2,
    "Café ☕ Zürich": 3,
    "ci\\x2fcd deploy": 4,
    "Backup~5": 5,
    "Backup~7": 7,
    "\\x2e\\x2e": 8,
    "~9": 9,
    "back\\x5cslash\\x09tab": 10,
    "L" * 252 + "~12": 12,
}


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def test_ls_tokens_lists_every_id(mount):
    out = run("ls", str(mount.p("tokens")))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == sorted(str(t["ID"]) for t in DEFAULT_TOKENS)


def test_root_has_the_documented_entries(mount):
    assert sorted(os.listdir(mount.path)) == ROOT_ENTRIES
    assert sorted(os.listdir(mount.p("tokens", "1"))) == FILES


def test_cat_files_of_the_public_sample(mount):
    t = mount.p("tokens", "1")
    assert (t / "id").read_text() == "1\n"
    assert (t / "name").read_text() == "Teams integ\n"
    assert (t / "created_on").read_text() == "2025-03-14T10:53:38.823+08:00\n"
    assert (t / "expiry").read_text() == "2025-09-10T10:53:38.67+08:00\n"
    assert (t / "expiry_reminder_state").read_text() == "0\n"
    assert (t / "user_id").read_text() == "1_1\n"
    assert mount.p("tokens", "2", "expiry_reminder_state").read_text() == "1\n"
    out = run("cat", str(mount.p("tokens", "2", "name")))
    assert out.stdout == "asddadas\n"


def test_token_json_is_the_servers_object(mount, server):
    for tok in server.tokens():
        body = mount.p("tokens", str(tok["ID"]), "token.json").read_bytes()
        assert body.endswith(b"}\n") and body.count(b"\n") == 1
        assert json.loads(body) == tok


def test_tokens_json_is_the_list_as_fetched(mount, server):
    body = mount.p("tokens.json").read_bytes()
    assert body.endswith(b"\n") and not body.endswith(b"\n\n")
    assert json.loads(body) == server.tokens()


def test_names_are_verbatim(mount):
    assert mount.p("tokens", "3", "name").read_bytes() == "Café ☕ Zürich\n".encode()
    assert mount.p("tokens", "10", "name").read_bytes() == b"back\\slash\ttab\n"
    assert mount.p("tokens", "9", "name").read_bytes() == b"\n"
    assert mount.p("tokens", "8", "name").read_bytes() == b"..\n"
    assert mount.p("tokens", "12", "name").read_bytes() == b"L" * 300 + b"\n"


def test_by_name_escapes_and_disambiguates(mount):
    names = os.listdir(mount.p("by-name"))
    assert sorted(names) == sorted(EXPECTED_BY_NAME)
    assert "Backup" not in names
    for name, tid in EXPECTED_BY_NAME.items():
        link = mount.p("by-name", name)
        assert os.readlink(link) == f"../tokens/{tid}"
        assert (link / "id").read_text() == f"{tid}\n"
    # Every token of the mount through exactly one entry.
    targets = sorted(os.readlink(mount.p("by-name", n)) for n in names)
    assert targets == sorted(f"../tokens/{tid}" for tid in os.listdir(mount.p("tokens")))


def test_by_name_escapes_invisible_format_characters(server, mounter):
    """A right-to-left override makes "abc<U+202E>txt.exe" show as "abcexe.txt",
    and a zero-width space hides in "Teams<U+200B>integ": both are escaped."""
    spoof = server.add_token("abc\u202etxt.exe", expire_in_days=2)
    hidden = server.add_token("Teams\u200binteg")
    m = mounter(server.url)
    out = run("ls", "-1", str(m.p("by-name")))
    assert out.returncode == 0, out.stderr
    listed = out.stdout.splitlines()
    assert "abc\\xe2\\x80\\xaetxt.exe" in listed
    assert "Teams\\xe2\\x80\\x8binteg" in listed
    assert not [n for n in listed if "\u202e" in n or "\u200b" in n]
    for entry, tok in (("abc\\xe2\\x80\\xaetxt.exe", spoof),
                       ("Teams\\xe2\\x80\\x8binteg", hidden)):
        link = m.p("by-name", entry)
        assert os.readlink(link) == f"../tokens/{tok['ID']}"
        assert (link / "name").read_text() == tok["Name"] + "\n"
    # The views use the same entry names.
    assert os.readlink(m.p("expiring", "abc\\xe2\\x80\\xaetxt.exe")) == \
        f"../tokens/{spoof['ID']}"


def test_by_name_path_from_the_issue(mount):
    out = run("cat", str(mount.path) + "/by-name/Teams integ/created_on")
    assert out.stdout == "2025-03-14T10:53:38.823+08:00\n"


def test_stat_size_equals_bytes_read_everywhere(mount):
    seen = 0
    for dirpath, _dirs, files in os.walk(mount.path):
        for f in files:
            path = os.path.join(dirpath, f)
            data = open(path, "rb").read()
            assert os.stat(path).st_size == len(data), path
            assert data.endswith(b"\n"), path
            seen += 1
    assert seen == len(ROOT_FILES) + len(FILES) * len(DEFAULT_TOKENS)
    out = run("wc", "-c", str(mount.p("tokens", "1", "expiry")))
    assert out.stdout.split()[0] == str(len("2025-09-10T10:53:38.67+08:00\n"))


def test_cp_and_diff_see_whole_files(mount, tmp_path):
    dst = tmp_path / "copy"
    assert run("cp", "-r", str(mount.p("tokens")), str(dst)).returncode == 0
    out = run("diff", "-r", str(mount.p("tokens")), str(dst))
    assert out.returncode == 0, out.stdout


def epoch(y, mo, d, h, mi, s, ns, offset_minutes):
    tz = timezone(timedelta(minutes=offset_minutes))
    sec = int(datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp())
    return sec, ns


CLOCK_FILES = ["days_left", "expired"]
DAY_NS = 86400 * 10**9


@pytest.mark.parametrize("tid, created, expiry", [
    (1, epoch(2025, 3, 14, 10, 53, 38, 823000000, 8 * 60),
     epoch(2025, 9, 10, 10, 53, 38, 670000000, 8 * 60)),
    (4, epoch(2025, 1, 2, 3, 4, 5, 123456700, 0), epoch(2025, 7, 1, 3, 4, 5, 123456700, 0)),
    (5, epoch(2025, 2, 3, 4, 5, 6, 0, -5 * 60), epoch(2025, 8, 2, 4, 5, 6, 0, -5 * 60)),
    (7, epoch(2025, 2, 4, 4, 5, 6, 500000000, -5 * 60),
     epoch(2025, 8, 3, 4, 5, 6, 500000000, -5 * 60)),
    (8, epoch(2025, 5, 5, 5, 5, 5, 50000000, 5 * 60 + 30),
     epoch(2025, 6, 5, 5, 5, 5, 50000000, 5 * 60 + 30)),
    (3, epoch(2025, 6, 1, 0, 0, 0, 0, 0), epoch(2025, 11, 28, 0, 0, 0, 0, 0)),
])
def test_mtime_is_created_on_or_when_a_clock_file_last_changed(mount, tid, created, expiry):
    """A token's folder and files carry its CreatedOn; a clock file carries the
    instant its body last changed (the mtime the kernel compares to drop the
    body it keeps): expired's flip at the Expiry, and days_left's last whole
    day counted from it.  Every one of these tokens expired in 2025."""
    d = mount.p("tokens", str(tid))
    for path in [d] + [d / f for f in FILES if f not in CLOCK_FILES]:
        st = os.stat(path)
        assert (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9) == created, path
    expiry_ns = expiry[0] * 10**9 + expiry[1]
    assert (d / "expired").read_text() == "1\n"
    assert os.stat(d / "expired").st_mtime_ns == expiry_ns
    before = time.time_ns()
    days_left = os.stat(d / "days_left").st_mtime_ns
    after = time.time_ns()
    assert (days_left - expiry_ns) % DAY_NS == 0, days_left
    assert before - DAY_NS <= days_left <= after, days_left


def test_top_folders_carry_the_fetch_time(mount):
    before = time.time()
    os.listdir(mount.p("tokens"))  # the first listing fetches
    after = time.time()
    for p in (mount.path, mount.p("tokens"), mount.p("by-name"), mount.p("tokens.json")):
        # The fetch's time (to the second, maybe rounded) is within the listing.
        assert before - 1 <= os.stat(p).st_mtime <= after + 1, p


def test_modes_and_owner(mount):
    assert stat.S_IMODE(os.stat(mount.path).st_mode) == 0o555
    assert stat.S_IMODE(os.stat(mount.p("tokens", "1")).st_mode) == 0o555
    st = os.stat(mount.p("tokens", "1", "name"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    lst = os.lstat(mount.p("by-name", "Teams integ"))
    assert stat.S_ISLNK(lst.st_mode) and stat.S_IMODE(lst.st_mode) == 0o777
    assert os.stat(mount.p("tokens")).st_nlink == 2 + len(DEFAULT_TOKENS)


def test_uid_gid_umask_options(server, mounter):
    m = mounter(server.url, "uid=1234", "gid=5678", "umask=027")
    st = os.stat(m.p("tokens", "1", "expiry"))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o440)
    assert stat.S_IMODE(os.stat(m.p("tokens")).st_mode) == 0o550
    assert stat.S_IMODE(os.lstat(m.p("by-name", "asddadas")).st_mode) == 0o777


def test_find_and_grep(mount):
    out = run("find", str(mount.path), "-type", "f")
    assert len(out.stdout.split("\n")) - 1 == len(ROOT_FILES) + len(FILES) * len(DEFAULT_TOKENS)
    out = run("grep", "-rl", "Teams integ", str(mount.p("tokens")))
    assert sorted(out.stdout.split()) == sorted(
        str(mount.p("tokens", "1", f)) for f in ("name", "token.json"))
    out = run("find", str(mount.p("by-name")), "-type", "l")
    assert len(out.stdout.splitlines()) == len(DEFAULT_TOKENS)


@pytest.mark.parametrize("name", ["nope", "6", "01", "+1", "1 ", "-1", "99999999999999999999"])
def test_absent_tokens_are_enoent(mount, name):
    with pytest.raises(FileNotFoundError):
        os.stat(mount.p("tokens", name))


def test_absent_file_and_link(mount):
    with pytest.raises(FileNotFoundError):
        os.stat(mount.p("tokens", "1", "secret"))
    with pytest.raises(FileNotFoundError):
        os.lstat(mount.p("by-name", "Backup"))
    with pytest.raises(NotADirectoryError):
        os.stat(mount.p("tokens", "1", "name", "x"))


def rofs(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    assert exc.value.errno == errno.EROFS, (fn, exc.value)


def test_every_change_is_erofs(mount):
    """The mount is read-only in the kernel: opening for writing fails at the
    open, and every other change too."""
    assert os.statvfs(mount.path).f_flag & os.ST_RDONLY
    t = mount.p("tokens", "1")
    rofs(os.open, t / "name", os.O_WRONLY)
    rofs(os.open, t / "name", os.O_RDWR)
    rofs(os.open, mount.p("tokens.json"), os.O_WRONLY | os.O_APPEND)
    rofs(open, t / "name", "w")
    rofs(open, t / "name", "a")
    rofs(open, t / "name", "r+")
    rofs(open, t / "new", "w")
    rofs(os.truncate, t / "name", 0)
    rofs(os.unlink, t / "name")
    rofs(os.rmdir, t)
    rofs(os.mkdir, mount.p("tokens", "99"))
    rofs(os.rename, t / "name", t / "name2")
    rofs(os.chmod, t / "name", 0o600)
    rofs(os.chown, t / "name", 1, 1)
    rofs(os.utime, t / "name", (0, 0))
    rofs(os.symlink, "x", mount.p("by-name", "new"))
    rofs(os.link, t / "name", t / "name2")
    rofs(os.setxattr, t / "name", "user.x", b"1")
    rofs(os.removexattr, t / "name", "user.x")
    rofs(os.mknod, t / "fifo", 0o600 | stat.S_IFIFO)
    out = run("touch", str(t / "name"))
    assert "Read-only file system" in out.stderr
    out = run("sh", "-c", f"echo hi > '{t / 'expiry'}'")
    assert "Read-only file system" in out.stderr
    assert not os.access(t / "name", os.W_OK)
    assert os.access(t / "name", os.R_OK)
    assert (t / "name").read_text() == "Teams integ\n"


def served(tokens):
    """The tokens a mount shows for this list: the first of each ID."""
    keep = {}
    for t in tokens:
        if t["ID"] not in keep:
            keep[t["ID"]] = t
    return keep


def check_long_list(m, tokens):
    keep = served(tokens)
    assert sorted(map(int, os.listdir(m.p("tokens")))) == sorted(keep)
    assert m.p("tokens.json").read_bytes() == encode_json(tokens) + b"\n"
    # Every 7th token, and the ten on each side of the middle, where the cut falls.
    ids = sorted(keep)
    mid = len(ids) // 2
    for tid in ids[::7] + ids[mid - 10:mid + 10]:
        t = keep[tid]
        d = m.p("tokens", str(tid))
        assert (d / "name").read_text() == t["Name"] + "\n"
        assert (d / "expiry").read_text() == t.get("Expiry", "") + "\n"
        assert (d / "user_id").read_text() == t["UserID"]["IDString"] + "\n"
        assert json.loads((d / "token.json").read_bytes()) == t
    assert len(os.listdir(m.p("by-name"))) == len(keep)


def test_a_long_list_is_parsed_in_parallel_and_served_whole(server, mounter):
    """A list past 256 KiB is parsed by two threads, cut near its middle.
    Every token is there and says what the server sent, before and after a
    refresh; what was skipped or unreadable on either side of the cut is
    logged in order."""
    tokens = generate_tokens(3000)
    tokens[2400]["ID"] = tokens[300]["ID"]     # a repeated ID across the cut
    tokens[2500]["Name"] = tokens[10]["Name"]  # a name on both sides
    del tokens[1700]["Expiry"]                 # an unreadable field after the cut
    del tokens[200]["Expiry"]                  # and one before it
    assert len(encode_json(tokens)) >= 256 * 1024
    server.set_tokens(tokens)
    m = mounter(server.url, "cache_ttl=3600")
    check_long_list(m, tokens)
    assert sorted(n for n in os.listdir(m.p("by-name")) if n.startswith(tokens[10]["Name"])) == [
        f"{tokens[10]['Name']}~{tokens[10]['ID']}", f"{tokens[10]['Name']}~{tokens[2500]['ID']}"]
    log = m.log()
    at = [log.find(f"token ID {tokens[i]['ID']}: field Expiry cannot be read") for i in (200, 1700)]
    at.append(log.find(f"token ID {tokens[2400]['ID']} skipped"))
    assert -1 < at[0] < at[1] < at[2], log
    assert "1 token object skipped in this list" in log
    assert "2 tokens listed with fields that could not be read" in log

    # A refresh: a longer list, half of it new.
    tokens = generate_tokens(1500, start_id=1501) + generate_tokens(2000, start_id=5001)
    server.set_tokens(tokens)
    m.refreshed()
    check_long_list(m, tokens)
    assert server.count("list") == 2
