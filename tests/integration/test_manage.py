"""Token management (-o manage): mkdir in new/ creates a token, rmdir in
tokens/ deletes one, rm of new/<name>/secret forgets a secret; nothing else
changes, and only the mounting user and root may do it.

    mkdir MOUNT/new/<name>     one generate-pat; then new/<name>/ holds
                               secret (0400), id and token -> ../../tokens/<ID>
    rmdir MOUNT/tokens/<ID>    one delete-pat
    rm MOUNT/new/<name>/secret forgets the secret (and new/<name>)

Every mount here is made with cache_ttl=3600, so that no refresh happens by
the clock: each fetch of the list the stand-in counts was asked for by a
create or a delete (or by the first look).  The tests count requests on
the stand-in and read what it remembers (generated(): every secret it
handed out; history(): each request's query and body) rather than timing
anything.

The daemon's log lines are matched loosely: one line per create or delete
holding "create" or "delete", the ID when known, the name, "uid N" and
"ok" or the failure, in no fixed wording.

Tests run as root; "another user" is nobody, on a mount with allow_other in
a folder every user may traverse.
"""

import errno
import json
import mmap
import os
import re
import shutil
import stat
import subprocess
import sys
import threading

import pytest

from conftest import daemon_cmd, eventually, is_mounted, scaled
from standin import DEFAULT_TOKENS, generate_tokens

NOBODY = 65534
MANAGE = ("manage", "cache_ttl=3600")


# ---- helpers -------------------------------------------------------------


def manage_mount(server, mounter, *opts, **kw):
    """A manage mount of the stand-in, its list fetched once (so that later
    fetches are the ones a create or delete asks for)."""
    m = mounter(server.url, *MANAGE, *opts, **kw)
    assert os.listdir(m.p("tokens"))
    return m


def errno_of(fn, *args):
    """0 if fn(*args) succeeds, else the errno it failed with."""
    try:
        fn(*args)
    except OSError as exc:
        return exc.errno
    return 0


def name_of_errno(e):
    return errno.errorcode.get(e, str(e)) if e else "success"


def expect_errno(want, fn, *args):
    got = errno_of(fn, *args)
    wants = want if isinstance(want, (set, tuple, frozenset)) else {want}
    assert got in wants, f"{fn.__name__}{args}: {name_of_errno(got)}, " \
                         f"wanted {sorted(map(name_of_errno, wants))}"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def status_of(m):
    return dict(line.split(": ", 1) for line in m.p("status").read_text().splitlines())


def metric(m, name, result):
    """The value of name{result="..."} in metrics.prom (None if absent)."""
    pattern = re.compile(rf'^{re.escape(name)}\{{result="{result}"\}} (\S+)$', re.M)
    found = pattern.search(m.p("metrics.prom").read_text())
    return float(found.group(1)) if found else None


def counted(m, creates_ok=0, creates_failed=0, deletes_ok=0, deletes_failed=0):
    """status and metrics.prom count the creates and deletes so."""
    st = status_of(m)
    got = {k: st.get(k) for k in ("creates_ok", "creates_failed", "deletes_ok",
                                  "deletes_failed")}
    want = {"creates_ok": str(creates_ok), "creates_failed": str(creates_failed),
            "deletes_ok": str(deletes_ok), "deletes_failed": str(deletes_failed)}
    assert got == want, f"status: {got}"
    prom = {(what, result): metric(m, f"synergyfs_token_{what}_total", result)
            for what in ("creates", "deletes") for result in ("ok", "error")}
    assert prom == {("creates", "ok"): creates_ok, ("creates", "error"): creates_failed,
                    ("deletes", "ok"): deletes_ok, ("deletes", "error"): deletes_failed}, prom


def log_lines(m, *patterns):
    """The lines of the daemon's log matching every regex in patterns."""
    return [line for line in m.log().splitlines()
            if all(re.search(p, line) for p in patterns)]


def id_re(tid):
    return rf"(?<![0-9]){tid}(?![0-9])"


def create_logged(m, name, uid=0, tid=None, ok=True):
    """The one line logging a create of name by uid (with its ID, if known),
    ok or not."""
    pats = [r"(?i)creat", re.escape(name), rf"\buid {uid}\b"] + ([id_re(tid)] if tid else [])
    lines = log_lines(m, *pats)
    assert len(lines) == 1, f"lines logging the create of {name!r}: {lines}\n{m.log()}"
    assert bool(re.search(r"\bok\b", lines[0])) == ok, lines[0]
    return lines[0]


def delete_logged(m, tid, name, uid=0, ok=True):
    lines = log_lines(m, r"(?i)delet", id_re(tid), re.escape(name), rf"\buid {uid}\b")
    assert len(lines) == 1, f"lines logging the delete of {tid}: {lines}\n{m.log()}"
    assert bool(re.search(r"\bok\b", lines[0])) == ok, lines[0]
    return lines[0]


def mkdir_new(m, name):
    os.mkdir(m.p("new", name))


def new_token(server, name):
    """The one token generate-pat created with this name."""
    made = [g for g in server.generated() if g["Name"] == name]
    assert len(made) == 1, made
    return made[0]


def by_name_entries(m, tid):
    """The by-name/ entries that link to token tid."""
    return [e for e in os.listdir(m.p("by-name"))
            if os.readlink(m.p("by-name", e)) == f"../tokens/{tid}"]


def requests_bodies(server, endpoint="generate"):
    return [json.loads(h["request"]) for h in server.history(endpoint)]


def check_refused_at_mount(tmp_path, opts, option):
    """synergyfs with these -o options must refuse to mount, exit 1 and say,
    in one line, what is wrong with option (which it must know)."""
    (tmp_path / "m").mkdir()
    out = subprocess.run(daemon_cmd("http://127.0.0.1:9/", str(tmp_path / "m"), "-f", "-o", opts),
                         capture_output=True, text=True, timeout=scaled(10),
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 1, out
    assert option in out.stderr and "unknown option" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not is_mounted(tmp_path / "m")


# What another user runs: a list of [op, path]; prints the errno of each
# (0: it worked) and, for a read that worked, what it read.
AS_USER = r"""
import json, os, sys
out = []
for op, path in json.loads(sys.argv[1]):
    try:
        if op == "read":
            with open(path, "rb") as f:
                out.append([0, f.read().hex()])
            continue
        getattr(os, op)(path)
        out.append([0, None])
    except OSError as exc:
        out.append([exc.errno, None])
print(json.dumps(out))
"""


def as_nobody(*ops):
    """Run ops ((op, path): op an os function of one path, or "read") as
    nobody; [(errno, what was read as hex or None)] for each."""
    out = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                          sys.executable, "-c", AS_USER, json.dumps([[o, str(p)] for o, p in ops])],
                         capture_output=True, text=True, timeout=scaled(30), check=False)
    assert out.returncode == 0, out.stderr
    return [tuple(x) for x in json.loads(out.stdout)]


@pytest.fixture
def public_mounter(server, shared_folder, mounter):
    """public_mounter(*opts) -> a manage mount with allow_other in
    shared_folder (which outlives the mounts: it is set up first)."""
    count = [0]

    def make(*opts):
        count[0] += 1
        return manage_mount(server, mounter, "allow_other", *opts,
                            name=str(shared_folder / f"mnt{count[0]}"))

    return make


# ---- create -------------------------------------------------------------


def test_mkdir_in_new_creates_a_token_with_its_secret(server, mounter):
    """One generate-pat with the name, ClientId synergyfs and 30 days; when
    mkdir returns, the list has been fetched again and the token is in
    tokens/ and by-name/, and new/<name>/ holds its secret (the value the
    server generated, 0400), its ID and a link to its folder."""
    server.keep_history = True
    m = manage_mount(server, mounter)
    assert os.listdir(m.p("new")) == []
    lists = server.count("list")
    mkdir_new(m, "nightly build")
    assert server.count("generate") == 1
    made = new_token(server, "nightly build")
    tid = made["ID"]
    assert requests_bodies(server) == [
        {"ClientId": "synergyfs", "Name": "nightly build", "ExpireInDays": 30}]
    assert (made["ClientId"], made["ExpireInDays"]) == ("synergyfs", 30)
    # The list was fetched after the token was created, before mkdir returned.
    kinds = [h["endpoint"] for h in server.history()]
    assert "list" in kinds[kinds.index("generate"):], kinds
    assert server.count("list") == lists + 1
    # At once, with no wait: the token is everywhere.
    assert str(tid) in os.listdir(m.p("tokens"))
    assert m.p("tokens", str(tid), "name").read_text() == "nightly build\n"
    assert by_name_entries(m, tid) == ["nightly build"]
    folder = m.p("new", "nightly build")
    assert sorted(os.listdir(folder)) == ["id", "secret", "token"]
    assert stat.S_ISDIR(os.stat(folder).st_mode)
    st = os.stat(folder / "secret", follow_symlinks=False)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o400, oct(st.st_mode)
    assert st.st_uid == os.getuid()
    assert read(folder / "secret") == (made["Secret"] + "\n").encode()
    assert st.st_size == len(made["Secret"]) + 1
    assert read(folder / "id") == f"{tid}\n".encode()
    assert os.readlink(folder / "token") == f"../../tokens/{tid}"
    assert (folder / "token" / "name").read_text() == "nightly build\n"
    # A second read gives it again: only rm forgets it.
    assert read(folder / "secret") == (made["Secret"] + "\n").encode()
    create_logged(m, "nightly build", tid=tid)
    counted(m, creates_ok=1)
    assert server.count("delete") == 0


def test_a_new_token_is_in_the_views_at_once(server, mounter):
    """new_token_days=3: the new token expires within expiring_days (7), so
    it is in expiring/ when mkdir returns."""
    m = manage_mount(server, mounter, "new_token_days=3")
    assert "soon gone" not in os.listdir(m.p("expiring"))
    mkdir_new(m, "soon gone")
    tid = new_token(server, "soon gone")["ID"]
    assert os.readlink(m.p("expiring", "soon gone")) == f"../tokens/{tid}"
    assert m.p("tokens", str(tid), "expired").read_text() == "0\n"


@pytest.mark.parametrize("opts, client_id, days", [
    ((), "synergyfs", 30),
    (("new_token_days=1",), "synergyfs", 1),
    (("new_token_days=180", "client_id=ops-robot"), "ops-robot", 180),
])
def test_the_request_carries_client_id_and_days(server, mounter, opts, client_id, days):
    server.keep_history = True
    m = manage_mount(server, mounter, *opts)
    mkdir_new(m, "ci")
    assert requests_bodies(server) == [{"ClientId": client_id, "Name": "ci", "ExpireInDays": days}]
    assert m.p("new", "ci", "id").read_text() == f"{new_token(server, 'ci')['ID']}\n"


@pytest.mark.bad_input
@pytest.mark.parametrize("value", ["0", "181", "abc", "-1", "", "30x", "1e2"])
def test_new_token_days_out_of_range_is_refused_at_mount(tmp_path, token_file, value):
    check_refused_at_mount(tmp_path, f"token_file={token_file},manage,new_token_days={value}",
                           "new_token_days")


# Names as new/ spells them (escaped as by-name/ escapes them) -> the name.
NAMES = {
    "slash": ("a\\x2fb", "a/b"),
    "unicode": ("Café ☕ Zürich", "Café ☕ Zürich"),
    "backslash_tab": ("back\\x5cslash\\x09tab", "back\\slash\ttab"),
    "tilde": ("x\\x7ey", "x~y"),
    "dot": ("\\x2e", "."),
    "dotdot": ("\\x2e\\x2e", ".."),
    "bidi": ("abc\\xe2\\x80\\xaetxt.exe", "abc\u202etxt.exe"),
    "zero_width": ("Teams\\xe2\\x80\\x8binteg", "Teams\u200binteg"),
    "newline": ("line\\x0a", "line\n"),
    "spaces": ("  two  spaces ", "  two  spaces "),
}


@pytest.mark.parametrize("kind", NAMES)
def test_names_are_unescaped_as_by_name_escapes_them(server, mounter, kind):
    """new/<escaped> creates a token named as the escape says; by-name/
    then shows it under the same escape (or with ~ID, when the name is
    taken: ".." is)."""
    escaped, name = NAMES[kind]
    server.keep_history = True
    m = manage_mount(server, mounter)
    mkdir_new(m, escaped)
    assert server.count("generate") == 1
    assert requests_bodies(server)[0]["Name"] == name
    tid = new_token(server, name)["ID"]
    assert read(m.p("tokens", str(tid), "name")) == (name + "\n").encode()
    assert by_name_entries(m, tid) in ([escaped], [f"{escaped}~{tid}"])
    assert os.listdir(m.p("new")) == [escaped]
    assert read(m.p("new", escaped, "id")) == f"{tid}\n".encode()


@pytest.mark.parametrize("escaped", ["\\x2", "\\x", "\\xg0", "a\\x2", "ends\\", "a\\qb",
                                     "\\\\x41", "a\\x00b", "\\xff", "caf\\xc3"])
def test_a_name_that_is_no_valid_escape_is_einval_without_a_request(server, mounter, escaped):
    """A backslash that does not start \\xNN is no escape by-name/ makes (it
    writes a backslash as \\x5c), and a name must be UTF-8 without NUL to go
    in JSON: EINVAL, and nothing is sent."""
    m = manage_mount(server, mounter)
    lists = server.count("list")
    expect_errno(errno.EINVAL, mkdir_new, m, escaped)
    assert server.count("generate") == 0
    assert server.count("list") == lists
    assert os.listdir(m.p("new")) == []
    assert len(server.tokens()) == len(DEFAULT_TOKENS)


def test_a_name_already_in_new_is_eexist_before_any_request(server, mounter):
    """A second mkdir of a name in new/ is EEXIST and sends nothing; a name
    in by-name/ is fine (Synergy allows duplicates: both get ~ID); once the
    secret is removed, the name is free in new/ again."""
    m = manage_mount(server, mounter)
    mkdir_new(m, "twice")
    expect_errno(errno.EEXIST, mkdir_new, m, "twice")
    assert server.count("generate") == 1
    # Teams integ (ID 1) is in by-name/: another token of that name is made.
    mkdir_new(m, "Teams integ")
    dup = new_token(server, "Teams integ")["ID"]
    assert server.count("generate") == 2
    assert sorted(e for e in os.listdir(m.p("by-name")) if e.startswith("Teams integ")) == \
        sorted(["Teams integ~1", f"Teams integ~{dup}"])
    os.unlink(m.p("new", "twice", "secret"))
    mkdir_new(m, "twice")
    assert server.count("generate") == 3
    assert len([g for g in server.generated() if g["Name"] == "twice"]) == 2


# ---- delete -------------------------------------------------------------


def test_rmdir_in_tokens_deletes_the_token(server, mounter):
    """One delete-pat with the ID; when rmdir returns the token has left
    tokens/, by-name/ and the views."""
    server.keep_history = True
    m = manage_mount(server, mounter)
    assert os.readlink(m.p("expired", "asddadas")) == "../tokens/2"
    lists = server.count("list")
    os.rmdir(m.p("tokens", "2"))
    assert server.count("delete") == 1
    assert [h["query"] for h in server.history("delete")] == ["id=2"]
    assert 2 not in [t["ID"] for t in server.tokens()]
    assert server.count("list") == lists + 1
    assert "2" not in os.listdir(m.p("tokens"))
    assert "asddadas" not in os.listdir(m.p("by-name"))
    assert "asddadas" not in os.listdir(m.p("expired"))
    assert "asddadas" not in os.listdir(m.p("expiring"))
    expect_errno(errno.ENOENT, os.stat, m.p("tokens", "2"))
    delete_logged(m, 2, "asddadas")
    counted(m, deletes_ok=1)
    assert server.count("generate") == 0


def test_create_then_delete_round_trip(server, mounter):
    """A token made by mkdir and deleted by rmdir leaves new/ too."""
    m = manage_mount(server, mounter)
    mkdir_new(m, "round trip")
    tid = new_token(server, "round trip")["ID"]
    assert m.p("new", "round trip", "secret").is_file()
    os.rmdir(m.p("tokens", str(tid)))
    assert server.count("delete") == 1
    assert str(tid) not in os.listdir(m.p("tokens"))
    assert by_name_entries(m, tid) == []
    assert os.listdir(m.p("new")) == []
    assert tid not in [t["ID"] for t in server.tokens()]
    create_logged(m, "round trip", tid=tid)
    delete_logged(m, tid, "round trip")
    counted(m, creates_ok=1, deletes_ok=1)


def test_rmdir_with_a_trailing_slash_is_the_same_delete(server, mounter):
    m = manage_mount(server, mounter)
    os.rmdir(str(m.p("tokens", "3")) + "/")
    assert server.count("delete") == 1
    assert "3" not in os.listdir(m.p("tokens"))


def test_deleting_an_unknown_id_is_einval(server, mounter):
    """The server no longer has token 7 (the mount's list still shows it):
    delete-pat answers 400, rmdir fails with EINVAL, sent once."""
    m = manage_mount(server, mounter)
    assert server.remove_token(7)
    assert "7" in os.listdir(m.p("tokens"))
    expect_errno(errno.EINVAL, os.rmdir, m.p("tokens", "7"))
    assert server.count("delete") == 1
    delete_logged(m, 7, "Backup", ok=False)
    counted(m, deletes_failed=1)


def test_rm_of_a_link_or_a_token_file_deletes_nothing(server, mounter):
    """Only rmdir of tokens/<ID> deletes: unlinking a by-name/ link or a
    token's file is refused, rm -r of a token's folder fails on its first
    file and leaves it, and rmdir of a by-name/ link is no rmdir of its
    target."""
    m = manage_mount(server, mounter)
    refused = {errno.EROFS, errno.EPERM}
    expect_errno(refused, os.unlink, m.p("by-name", "Teams integ"))
    expect_errno(refused, os.unlink, m.p("expired", "asddadas"))
    expect_errno(refused, os.unlink, m.p("tokens", "1", "name"))
    expect_errno(refused, os.unlink, m.p("tokens.json"))
    expect_errno(errno.ENOTDIR, os.rmdir, m.p("by-name", "Teams integ"))
    expect_errno(errno.ENOTDIR, os.rmdir, str(m.p("by-name", "Teams integ")) + "/")
    for args in (["rm", "-r"], ["rm", "-rf"]):
        out = subprocess.run([*args, str(m.p("tokens", "1"))], capture_output=True, text=True,
                             timeout=scaled(30))
        assert out.returncode != 0, out
    with pytest.raises(OSError):
        shutil.rmtree(m.p("tokens", "5"))
    assert server.count("delete") == 0
    assert len(server.tokens()) == len(DEFAULT_TOKENS)
    for tid in ("1", "5"):
        assert {"name", "expiry", "token.json"} <= set(os.listdir(m.p("tokens", tid)))
    assert os.readlink(m.p("by-name", "Teams integ")) == "../tokens/1"


# ---- the secret ---------------------------------------------------------


def test_rm_of_the_secret_forgets_it_and_its_folder(server, mounter):
    """rmdir new/<name> is ENOTEMPTY while the secret is there; rm of the
    secret removes new/<name> and deletes no token."""
    m = manage_mount(server, mounter)
    mkdir_new(m, "keep")
    tid = new_token(server, "keep")["ID"]
    expect_errno(errno.ENOTEMPTY, os.rmdir, m.p("new", "keep"))
    os.unlink(m.p("new", "keep", "secret"))
    expect_errno(errno.ENOENT, os.stat, m.p("new", "keep"))
    expect_errno(errno.ENOENT, os.stat, m.p("new", "keep", "secret"))
    assert os.listdir(m.p("new")) == []
    assert str(tid) in os.listdir(m.p("tokens"))
    assert server.count("delete") == 0
    # The id and the link are no secret: only rm of the secret removes.
    mkdir_new(m, "other")
    expect_errno({errno.EROFS, errno.EPERM}, os.unlink, m.p("new", "other", "id"))
    expect_errno({errno.EROFS, errno.EPERM}, os.unlink, m.p("new", "other", "token"))
    assert m.p("new", "other", "secret").is_file()



def test_a_removed_secret_is_gone_for_a_reader_that_had_it_open(server, mounter):
    """The secret never enters the page cache (it is read with direct I/O,
    which the kernel will not map shared): after rm, a descriptor opened
    before reads nothing of it (ENOENT from the daemon, not a kept copy)."""
    m = manage_mount(server, mounter)
    mkdir_new(m, "held open")
    want = new_token(server, "held open")["Secret"].encode() + b"\n"
    fd = os.open(m.p("new", "held open", "secret"), os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, 0) == want
        expect_errno(errno.ENODEV, mmap.mmap, fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
        os.unlink(m.p("new", "held open", "secret"))
        expect_errno(errno.ENOENT, os.pread, fd, 4096, 0)
    finally:
        os.close(fd)

def test_unmount_names_the_secrets_never_read(server, mounter):
    """At unmount the daemon logs the ID of each secret never read (and
    still held), never a secret: one read, one unread, one removed unread."""
    server.set_tokens(generate_tokens(2, start_id=4711001))
    m = manage_mount(server, mounter)
    for name in ("read-one", "unread-one", "removed-one"):
        mkdir_new(m, name)
    made = {g["Name"]: g for g in server.generated()}
    assert read(m.p("new", "read-one", "secret")) == (made["read-one"]["Secret"] + "\n").encode()
    os.unlink(m.p("new", "removed-one", "secret"))
    before = m.log()
    assert m.unmount() == 0
    after = m.log()
    assert after.startswith(before)
    at_unmount = after[len(before):]
    assert re.search(id_re(made["unread-one"]["ID"]), at_unmount), at_unmount
    for name in ("read-one", "removed-one"):
        assert not re.search(id_re(made[name]["ID"]), at_unmount), (name, at_unmount)
    for g in made.values():
        assert g["Secret"] not in after


def test_the_secret_is_in_no_log_and_no_other_file(server, mounter):
    """With -d, after creates, reads of everything and an unmount: no secret
    in the log, in status, metrics.prom, tokens.json, any other file of the
    mount, or the daemon's argv; only new/<name>/secret holds it."""
    m = manage_mount(server, mounter, extra_args=["-d"])
    for name in ("first", "second"):
        mkdir_new(m, name)
    secrets = [g["Secret"].encode() for g in server.generated()]
    assert len(secrets) == 2
    holders = set()
    for dirpath, dirs, files in os.walk(m.path):
        for name in files:
            path = os.path.join(dirpath, name)
            body = read(path)
            if any(s in body for s in secrets):
                holders.add(os.path.relpath(path, m.path))
        for name in dirs + files:  # names and link targets too
            path = os.path.join(dirpath, name)
            text = (name + (os.readlink(path) if os.path.islink(path) else "")).encode()
            assert not any(s in text for s in secrets), path
    assert holders == {"new/first/secret", "new/second/secret"}
    for f in ("status", "metrics.prom", "tokens.json"):
        assert not any(s in read(m.p(f)) for s in secrets), f
    with open(f"/proc/{m.proc.pid}/cmdline", "rb") as f:
        assert not any(s in f.read() for s in secrets)
    log = m.log().encode()
    assert b"unique:" in log  # -d was on: the FUSE requests are in it
    assert not any(s in log for s in secrets)
    assert m.unmount() == 0
    assert not any(s in m.log().encode() for s in secrets)


@pytest.mark.parametrize("perms", ["default_permissions", "no_default_permissions"])
def test_another_user_can_neither_read_a_secret_nor_create_nor_delete(
        server, public_mounter, perms):
    """With allow_other, nobody may look (the folders let it in) but reads
    no secret, creates nothing and deletes nothing, whether the kernel
    checks the modes or only the daemon does (no_default_permissions)."""
    m = public_mounter(*(("no_default_permissions",) if perms != "default_permissions" else ()))
    mkdir_new(m, "mine")
    secret = (new_token(server, "mine")["Secret"] + "\n").encode()
    got = as_nobody(("read", m.p("tokens", "1", "name")),
                    ("read", m.p("new", "mine", "secret")),
                    ("mkdir", m.p("new", "theirs")),
                    ("rmdir", m.p("tokens", "1")),
                    ("unlink", m.p("new", "mine", "secret")))
    assert got[0] == (0, b"Teams integ\n".hex()), "nobody may read the list"
    assert got[1] == (errno.EACCES, None), got[1]
    assert got[2][0] == errno.EACCES, name_of_errno(got[2][0])
    assert got[3][0] == errno.EACCES, name_of_errno(got[3][0])
    assert got[4][0] in (errno.EACCES, errno.EPERM), name_of_errno(got[4][0])
    assert server.count("generate") == 1 and server.count("delete") == 0
    assert "1" in os.listdir(m.p("tokens"))
    assert os.listdir(m.p("new")) == ["mine"]
    assert read(m.p("new", "mine", "secret")) == secret  # not wiped by the attempt
    assert status_of(m)["creates_ok"] == "1" and status_of(m)["deletes_ok"] == "0"


# ---- secret_dir ---------------------------------------------------------


def test_secret_dir_holds_each_secret_before_mkdir_returns(server, mounter, tmp_path):
    keep = tmp_path / "secrets"
    keep.mkdir(mode=0o700)
    m = manage_mount(server, mounter, f"secret_dir={keep}")
    mkdir_new(m, "kept")
    made = new_token(server, "kept")
    # Right after mkdir returned, no wait.
    path = keep / str(made["ID"])
    st = os.stat(path, follow_symlinks=False)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.getuid()
    assert read(path) == (made["Secret"] + "\n").encode()
    assert os.listdir(keep) == [str(made["ID"])]
    mkdir_new(m, "kept too")
    assert sorted(os.listdir(keep)) == sorted(str(g["ID"]) for g in server.generated())


@pytest.mark.bad_input
@pytest.mark.parametrize("mode, owner", [(0o750, 0), (0o705, 0), (0o777, 0), (0o710, 0),
                                         (0o701, 0), (0o700, NOBODY)],
                         ids=["0750", "0705", "0777", "0710", "0701", "0700-of-nobody"])
def test_secret_dir_not_private_is_refused_at_mount(tmp_path, token_file, mode, owner):
    keep = tmp_path / "secrets"
    keep.mkdir()
    keep.chmod(mode)
    os.chown(keep, owner, owner)
    check_refused_at_mount(tmp_path, f"token_file={token_file},manage,secret_dir={keep}",
                           "secret_dir")


# ---- failures -----------------------------------------------------------


@pytest.mark.fault
@pytest.mark.parametrize("code, want", [(400, errno.EINVAL), (401, errno.EACCES),
                                        (403, errno.EACCES), (404, errno.ENOENT),
                                        (500, errno.EIO), (503, errno.EIO)])
def test_a_refused_create_fails_with_its_errno(server, mounter, code, want):
    """The server answers with an error (creating nothing): mkdir fails with
    the errno of the status, the request was sent once, new/ stays empty,
    the create is logged and counted as failed."""
    m = manage_mount(server, mounter)
    server.fault("status", 1, endpoint="generate", code=code)
    expect_errno(want, mkdir_new, m, "refused")
    assert server.count("generate") == 1
    assert server.generated() == []
    assert os.listdir(m.p("new")) == []
    create_logged(m, "refused", ok=False)
    counted(m, creates_failed=1)
    # The name is free again, and the next create works.
    mkdir_new(m, "refused")
    assert server.count("generate") == 2
    assert m.p("new", "refused", "secret").is_file()


@pytest.mark.fault
@pytest.mark.parametrize("kind", ["drop", "malformed", "malformed_object", "slow"])
def test_a_lost_answer_to_generate_fails_and_the_refresh_shows_the_token(
        server, mounter, kind):
    """The server creates the token but its answer is lost: the connection
    dropped (EIO), a body that is no JSON string (EIO), or too late
    (ETIMEDOUT).  mkdir fails, the request is not retried, the log says the
    token may have been created (and holds no secret, not even the one in
    the garbled answer), and the refresh that follows shows it in tokens/."""
    timeout = int(scaled(3))
    m = manage_mount(server, mounter, f"timeout={timeout}")
    params, want = {
        "drop": (("drop", {}), errno.EIO),
        "malformed": (("malformed", {}), errno.EIO),
        "malformed_object": (("malformed", {"body": b'{"Secret":"{secret}"}'}), errno.EIO),
        "slow": (("slow", {"delay": 600}), errno.ETIMEDOUT),
    }[kind]
    server.fault(params[0], 1, endpoint="generate", **params[1])
    expect_errno(want, mkdir_new, m, "lost answer")
    assert server.count("generate") == 1
    made = new_token(server, "lost answer")
    assert eventually(lambda: str(made["ID"]) in os.listdir(m.p("tokens")), 30), \
        "the token never appeared"
    assert by_name_entries(m, made["ID"]) == ["lost answer"]
    assert os.listdir(m.p("new")) == []
    assert server.count("generate") == 1  # never retried
    # Logged as failed, and that it may have been created (on that line or
    # one of its own).
    lines = log_lines(m, r"(?i)creat", "lost answer")
    assert lines and not any(re.search(r"\bok\b", line) for line in lines), m.log()
    assert log_lines(m, r"(?i)\bmay\b.*creat"), m.log()
    assert made["Secret"] not in m.log()
    counted(m, creates_failed=1)


@pytest.mark.fault
def test_create_with_the_server_gone_is_econnrefused(server, mounter):
    m = manage_mount(server, mounter)
    server.stop()
    expect_errno(errno.ECONNREFUSED, mkdir_new, m, "nowhere")
    assert server.count("generate") == 0
    assert os.listdir(m.p("new")) == []
    create_logged(m, "nowhere", ok=False)


@pytest.mark.fault
@pytest.mark.parametrize("kind, code, want", [("status", 401, errno.EACCES),
                                              ("status", 403, errno.EACCES),
                                              ("status", 404, errno.ENOENT),
                                              ("status", 500, errno.EIO),
                                              ("drop", None, errno.EIO)])
def test_a_failed_delete_fails_with_its_errno_and_is_not_retried(server, mounter, kind, code,
                                                                  want):
    m = manage_mount(server, mounter)
    server.fault(kind, 1, endpoint="delete", **({"code": code} if code else {}))
    expect_errno(want, os.rmdir, m.p("tokens", "2"))
    assert server.count("delete") == 1
    delete_logged(m, 2, "asddadas", ok=False)
    counted(m, deletes_failed=1)
    if kind == "drop":  # it was deleted: a refresh shows the truth
        m.refreshed()
        assert "2" not in os.listdir(m.p("tokens"))
    else:
        assert "2" in os.listdir(m.p("tokens"))


def test_status_and_metrics_count_creates_and_deletes(server, mounter):
    m = manage_mount(server, mounter)
    counted(m)
    mkdir_new(m, "a")
    mkdir_new(m, "b")
    server.fault("status", 1, endpoint="generate", code=500)
    expect_errno(errno.EIO, mkdir_new, m, "c")
    os.rmdir(m.p("tokens", "1"))
    server.remove_token(2)
    expect_errno(errno.EINVAL, os.rmdir, m.p("tokens", "2"))
    counted(m, creates_ok=2, creates_failed=1, deletes_ok=1, deletes_failed=1)


# ---- without -o manage, and what a manage mount still refuses ------------


def test_without_manage_new_is_empty_and_nothing_is_sent(server, mounter):
    """new/ is on every mount, empty; without -o manage mkdir in it and
    rmdir in tokens/ are EROFS, and nothing is sent."""
    m = mounter(server.url, "cache_ttl=3600")
    assert os.listdir(m.p("new")) == []
    assert stat.S_ISDIR(os.stat(m.p("new")).st_mode)
    expect_errno(errno.EROFS, mkdir_new, m, "nope")
    expect_errno(errno.EROFS, os.rmdir, m.p("tokens", "1"))
    assert server.count("generate") == 0 and server.count("delete") == 0
    assert "1" in os.listdir(m.p("tokens"))
    assert os.listdir(m.p("new")) == []


def _open_close(path, flags):
    os.close(os.open(path, flags, 0o600))


def test_a_manage_mount_refuses_every_other_change(server, mounter):
    """Only mkdir in new/, rmdir in tokens/ and rm of a secret change
    anything: in new/ and new/<name>/ too, every other write is EROFS for
    root (the owner), and nothing is sent."""
    m = manage_mount(server, mounter)
    mkdir_new(m, "held")
    folder = m.p("new", "held")
    secret = folder / "secret"
    body = read(secret)
    for path in (secret, folder / "id", m.p("tokens", "1", "name"), m.p("status")):
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND,
                      os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_CREAT):
            expect_errno(errno.EROFS, _open_close, path, flags)
        expect_errno(errno.EROFS, os.truncate, path, 0)
        expect_errno(errno.EROFS, os.chmod, path, 0o666)
        expect_errno(errno.EROFS, os.utime, path, None)
        expect_errno(errno.EROFS, os.chown, path, NOBODY, NOBODY)
    for where in (m.p("new"), folder, m.p("tokens"), m.p("tokens", "1"), m.path, m.p("by-name")):
        expect_errno(errno.EROFS, _open_close, where / "created", os.O_WRONLY | os.O_CREAT)
        expect_errno(errno.EROFS, os.mkfifo, where / "fifo")
        expect_errno(errno.EROFS, os.symlink, "tokens", where / "link")
    for where in (folder, m.p("tokens"), m.p("tokens", "1"), m.path, m.p("by-name"),
                  m.p("expiring")):
        expect_errno(errno.EROFS, os.mkdir, where / "sub")
    expect_errno(errno.EROFS, os.rename, folder, m.p("new", "renamed"))
    expect_errno(errno.EROFS, os.rename, secret, folder / "moved")
    expect_errno(errno.EROFS, os.rename, m.p("tokens", "1"), m.p("tokens", "99"))
    expect_errno({errno.EROFS, errno.EPERM}, os.link, secret, m.p("new", "linked"))
    expect_errno(errno.EROFS, os.chmod, folder, 0o777)
    expect_errno(errno.EROFS, os.setxattr, secret, "user.note", b"1")
    fd = os.open(secret, os.O_RDONLY)
    try:
        expect_errno(errno.EBADF, os.write, fd, b"x")
        expect_errno(errno.EACCES, lambda: mmap.mmap(fd, 0, mmap.MAP_SHARED,
                                                     mmap.PROT_READ | mmap.PROT_WRITE))
    finally:
        os.close(fd)
    assert read(secret) == body
    assert sorted(os.listdir(folder)) == ["id", "secret", "token"]
    assert os.listdir(m.p("new")) == ["held"]
    assert server.count("generate") == 1 and server.count("delete") == 0
    assert len(server.tokens()) == len(DEFAULT_TOKENS) + 1


# ---- many at once -------------------------------------------------------


def parallel(n, fn):
    """Run fn(i) for i in range(n) in n threads started together; the errno
    each gave (0: success)."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = errno_of(fn, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(120))
    assert not any(t.is_alive() for t in threads), "a mkdir hangs"
    return results


def test_16_parallel_mkdirs_of_different_names_make_16_tokens(server, mounter):
    m = manage_mount(server, mounter)
    results = parallel(16, lambda i: mkdir_new(m, f"par-{i:02d}"))
    assert results == [0] * 16, [name_of_errno(e) for e in results]
    assert server.count("generate") == 16
    made = {g["Name"]: g for g in server.generated()}
    assert sorted(made) == [f"par-{i:02d}" for i in range(16)]
    assert len({g["ID"] for g in made.values()}) == 16
    tokens = set(os.listdir(m.p("tokens")))
    for name, g in made.items():
        assert str(g["ID"]) in tokens
        assert read(m.p("new", name, "secret")) == (g["Secret"] + "\n").encode()
        assert read(m.p("new", name, "id")) == f"{g['ID']}\n".encode()
    counted(m, creates_ok=16)


def test_16_parallel_mkdirs_of_one_name_make_one_token(server, mounter):
    m = manage_mount(server, mounter)
    results = parallel(16, lambda i: mkdir_new(m, "only once"))
    assert sorted(results) == [0] + [errno.EEXIST] * 15, [name_of_errno(e) for e in results]
    assert server.count("generate") == 1
    made = new_token(server, "only once")
    assert [t["ID"] for t in server.tokens() if t["Name"] == "only once"] == [made["ID"]]
    assert read(m.p("new", "only once", "secret")) == (made["Secret"] + "\n").encode()
    assert by_name_entries(m, made["ID"]) == ["only once"]
