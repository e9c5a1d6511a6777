"""The command line: options, the token, URLs, TLS, signals, help."""

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BINARY, Mount, daemon_cmd, is_mounted, refresh, scaled
from standin import StandIn


def start_fail(args, env=None, timeout=10):
    """Run synergyfs expecting it to refuse before mounting."""
    return subprocess.run(daemon_cmd(*args), capture_output=True, text=True,
                          timeout=scaled(timeout), env=env, stdin=subprocess.DEVNULL)


def test_help_lists_every_option_with_defaults():
    out = subprocess.run(daemon_cmd("--help"), capture_output=True, text=True)
    assert out.returncode == 0
    for opt in ("token_file=PATH", "cache_ttl=SECONDS", "(default 60)", "timeout=SECONDS",
                "(default 30)", "connect_timeout=SECONDS", "(default 10)", "cacert=PATH",
                "insecure", "uid=N", "gid=N", "umask=", "allow_other", "-f", "-s", "-d",
                "SYNERGY_TOKEN", "usage: synergyfs [options] URL MOUNTPOINT"):
        assert opt in out.stdout, opt


MAN_PAGE = Path(__file__).resolve().parents[2] / "doc" / "synergyfs.1"


def option_names(line):
    """The options at the start of a help line or a man page tag, in order:
    "-h", "--help", and "token_file" for "-o token_file=PATH"."""
    names, words = [], line.replace(",", " ").split()
    while words and words[0].startswith("-"):
        word = words.pop(0)
        if word == "-o":
            if not words:
                break
            word = words.pop(0).split("=")[0]
        names.append(word)
    return names


def roff_text(line):
    """The words of a man page line: macro, quotes and font escapes gone."""
    line = re.sub(r"^\.[A-Z]+\s*", "", line)
    line = re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-").replace("\\ ", " ")
    return line.replace('"', "")


def test_help_and_man_page_list_the_same_options():
    out = subprocess.run(daemon_cmd("--help"), capture_output=True, text=True)
    assert out.returncode == 0
    helped = [n for line in out.stdout.splitlines() if re.match(r"\s+-", line)
              for n in option_names(line)]
    # Each option once: not ours and then libfuse's again.
    assert len(helped) == len(set(helped)), sorted(helped)
    assert {"-h", "--help", "-V", "--version", "token_file", "-f"} <= set(helped)
    lines = MAN_PAGE.read_text(encoding="utf-8").splitlines()
    section = lines[lines.index(".SH OPTIONS") + 1:]
    section = section[:next(i for i, l in enumerate(section) if l.startswith(".SH"))]
    documented = [n for prev, line in zip(section, section[1:]) if prev == ".TP"
                  for n in option_names(roff_text(line))]
    assert len(documented) == len(set(documented)), sorted(documented)
    assert set(helped) - set(documented) == set(), "printed by --help, not in the man page"
    assert set(documented) - set(helped) == set(), "in the man page, not printed by --help"


def test_version_names_synergyfs_and_libfuse():
    out = subprocess.run(daemon_cmd("-V"), capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("synergyfs 0.")
    assert "libfuse 3." in out.stdout


@pytest.mark.bad_input
@pytest.mark.parametrize("url, why", [
    ("ftp://127.0.0.1/", "http:// or https://"),
    ("127.0.0.1:8080", "no scheme"),
    ("http://", "not a valid URL"),
    ("http://user:pw@127.0.0.1:1/", "user name or password"),
    ("http://127.0.0.1:1/?x=1", "query"),
    ("", "empty"),
])
def test_bad_urls_are_refused_before_mounting(tmp_path, token_file, url, why):
    (tmp_path / "m").mkdir()
    out = start_fail([url, str(tmp_path / "m"), "-f", "-o", f"token_file={token_file}"])
    assert out.returncode == 1
    assert why in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not is_mounted(tmp_path / "m")


@pytest.mark.bad_input
@pytest.mark.parametrize("opt, why", [
    ("cache_ttl=abc", "cache_ttl must be"),
    ("cache_ttl=-1", "cache_ttl must be"),
    ("timeout=0", "timeout must be"),
    ("connect_timeout=99999", "connect_timeout must be"),
    ("umask=999", "umask must be"),
    ("uid=x", "uid must be"),
    ("no_such_option", "unknown option"),
])
def test_bad_options_are_refused(tmp_path, token_file, opt, why):
    (tmp_path / "m").mkdir()
    out = start_fail(["http://127.0.0.1:9/", str(tmp_path / "m"), "-f", "-o",
                      f"token_file={token_file},{opt}"])
    assert out.returncode == 1, out.stderr  # as documented for a bad option
    assert why in out.stderr, out.stderr
    assert not is_mounted(tmp_path / "m")


def test_missing_arguments(tmp_path, token_file):
    out = start_fail(["-o", f"token_file={token_file}"])
    assert out.returncode == 1 and "missing server URL" in out.stderr
    out = start_fail(["http://127.0.0.1:9", "-o", f"token_file={token_file}"])
    assert out.returncode == 1 and "missing mount point" in out.stderr
    out = start_fail(["http://127.0.0.1:9", str(tmp_path), "extra"])
    assert out.returncode == 1 and "unexpected argument 'extra'" in out.stderr


@pytest.mark.bad_input
@pytest.mark.parametrize("make, why", [
    (lambda p: None, "No such file or directory"),
    (lambda p: p.write_text("a file\n"), "is not a folder"),
])
def test_bad_mount_point_exits_2_with_our_message(tmp_path, token_file, make, why):
    """The README and the man page: a failure to mount exits with 2."""
    mp = tmp_path / "m"
    make(mp)
    before = mp.read_bytes() if mp.exists() else None
    out = start_fail(["http://127.0.0.1:9", str(mp), "-f", "-o", f"token_file={token_file}"])
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"synergyfs: error: mount point '{mp}'"), out.stderr
    assert why in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not is_mounted(mp)
    assert (mp.read_bytes() if mp.exists() else None) == before


def test_bad_option_wins_over_a_bad_mount_point(tmp_path, token_file):
    """What is wrong with the command line is reported first, with 1."""
    out = start_fail(["http://127.0.0.1:9", str(tmp_path / "nope"), "-f", "-o",
                      f"token_file={token_file},cache_ttl=abc"])
    assert out.returncode == 1 and "cache_ttl must be" in out.stderr, out.stderr
    out = start_fail(["http://127.0.0.1:9", str(tmp_path / "nope"), "-f", "-o",
                      f"token_file={token_file},no_such_option"])
    assert out.returncode == 1 and "unknown option" in out.stderr, out.stderr


def test_no_token_says_how_to_give_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SYNERGY_TOKEN"}
    out = start_fail(["http://127.0.0.1:9", str(tmp_path)], env=env)
    assert out.returncode == 1
    assert "token_file=PATH" in out.stderr and "SYNERGY_TOKEN" in out.stderr


@pytest.mark.bad_input
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_token_file_readable_by_others_is_refused(tmp_path, token, mode):
    f = tmp_path / "tok"
    f.write_text(token)
    f.chmod(mode)
    out = start_fail(["http://127.0.0.1:9", str(tmp_path), "-o", f"token_file={f}"])
    assert out.returncode == 1
    assert "accessible by group or others" in out.stderr and "chmod 600" in out.stderr
    assert token not in out.stderr


@pytest.mark.bad_input
@pytest.mark.parametrize("content, why", [
    ("", "empty"), ("  \n\t\n", "empty"), ("two words", "one word"),
])
def test_bad_token_file_contents(tmp_path, content, why):
    f = tmp_path / "tok"
    f.write_text(content)
    f.chmod(0o600)
    out = start_fail(["http://127.0.0.1:9", str(tmp_path), "-o", f"token_file={f}"])
    assert out.returncode == 1 and why in out.stderr


def test_missing_token_file(tmp_path):
    out = start_fail(["http://127.0.0.1:9", str(tmp_path), "-o",
                      f"token_file={tmp_path}/nope"])
    assert out.returncode == 1 and "No such file" in out.stderr


@contextlib.contextmanager
def special_file(kind, tmp_path):
    """A FIFO, a character device, a socket or a folder, to give as the token file."""
    if kind == "character device":
        yield "/dev/null"
        return
    if kind == "directory":
        yield str(tmp_path)
        return
    if kind == "FIFO":
        path = tmp_path / "fifo"
        os.mkfifo(path, 0o600)
        yield str(path)
        return
    with tempfile.TemporaryDirectory() as d, socket.socket(socket.AF_UNIX) as s:
        s.bind(os.path.join(d, "sock"))  # short: sun_path holds 108 bytes
        yield os.path.join(d, "sock")


@pytest.mark.bad_input
@pytest.mark.parametrize("kind", ["FIFO", "character device", "socket", "directory"])
def test_token_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path, kind):
    # A FIFO nobody writes to used to hang the daemon in open(): the time
    # limit of start_fail (stretched for slow builds) catches that.
    (tmp_path / "m").mkdir()
    with special_file(kind, tmp_path) as path:
        out = start_fail(["http://127.0.0.1:9", str(tmp_path / "m"), "-f", "-o",
                          f"token_file={path}"])
    assert out.returncode == 1, out.stderr
    assert f"token file {path} is a {kind}, not a regular file" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not is_mounted(tmp_path / "m")


def test_token_file_may_be_a_symlink_to_a_regular_file(server, mounter, tmp_path, token):
    # How container secrets are mounted: the file name is a symlink into a
    # folder of the current version, swapped for a new one on rotation.
    for version, value in (("v1", token), ("v2", "rotated-token")):
        (tmp_path / version).mkdir()
        (tmp_path / version / "token").write_text(value + "\n")
        (tmp_path / version / "token").chmod(0o600)
    link = tmp_path / "token-link"
    link.symlink_to(tmp_path / "v1" / "token")
    m = mounter(server.url, "cache_ttl=3600", token_file=link)
    assert "1" in os.listdir(m.p("tokens"))
    assert server.auth_headers[-1] == f"Bearer {token}"
    server.set_token("rotated-token")
    (tmp_path / "next-link").symlink_to(tmp_path / "v2" / "token")
    os.replace(tmp_path / "next-link", link)
    m.proc.send_signal(signal.SIGHUP)
    m.wait_log("token read again")
    m.refreshed()
    assert server.auth_headers[-1] == "Bearer rotated-token"
    assert "1" in os.listdir(m.p("tokens"))


@pytest.mark.bad_input
def test_sighup_refuses_a_fifo_and_keeps_the_old_token(server, mounter, token_file, token):
    m = mounter(server.url, "cache_ttl=3600")
    assert "1" in os.listdir(m.p("tokens"))
    token_file.unlink()
    os.mkfifo(token_file, 0o600)
    m.proc.send_signal(signal.SIGHUP)
    log = m.wait_log("SIGHUP: keeping the old token")
    assert f"token file {token_file} is a FIFO, not a regular file" in log
    # The mount still works, with the old token.
    fetches = server.count("list")
    m.refreshed()
    assert server.count("list") > fetches
    assert server.auth_headers[-1] == f"Bearer {token}"
    assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"
    # The SIGHUP thread is not stuck in the FIFO: SIGTERM ends the daemon.
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(timeout=scaled(30)) == 0
    assert not is_mounted(m.path)


def test_token_file_whitespace_is_trimmed(server, mounter, tmp_path, token):
    f = tmp_path / "padded"
    f.write_text(f"\n  {token}  \r\n\n")
    f.chmod(0o600)
    m = mounter(server.url, token_file=f)
    assert "1" in os.listdir(m.p("tokens"))
    assert server.auth_headers[-1] == f"Bearer {token}"


@pytest.mark.not_under_valgrind("/proc/PID/environ shows valgrind's own copy of the "
                                "environment, which the daemon cannot reach to wipe")
def test_token_from_environment_is_hidden(server, mounter, token):
    env = dict(os.environ, SYNERGY_TOKEN=token)
    m = mounter(server.url, token_file=None, env=env)
    assert "1" in os.listdir(m.p("tokens"))
    pid = m.proc.pid
    environ = open(f"/proc/{pid}/environ", "rb").read()
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    assert token.encode() not in environ
    assert token.encode() not in cmdline


def test_token_never_in_argv(server, mounter, token):
    m = mounter(server.url)
    cmdline = open(f"/proc/{m.proc.pid}/cmdline", "rb").read()
    assert token.encode() not in cmdline


def test_url_with_trailing_slash_and_prefix(token, mounter):
    with StandIn(token=token, prefix="/synergy") as srv:
        m = mounter(srv.url + "/")
        assert "1" in os.listdir(m.p("tokens"))
        m2 = mounter(srv.url.replace("/synergy", "") + "/")  # the prefix forgotten
        with pytest.raises(OSError):
            os.listdir(m2.p("tokens"))
        assert "is the URL the server's base?" in m2.log()


def test_mount_table_shows_type_and_url(server, mounter):
    m = mounter(server.url)
    line = next(l for l in open("/proc/self/mounts") if l.split()[1] == str(m.path))
    src, _mnt, fstype, opts = line.split()[:4]
    assert (src, fstype) == (server.url, "fuse.synergyfs")
    assert "noatime" in opts.split(",")
    assert "ro" in opts.split(",")


def test_the_mount_is_read_only_whatever_the_options_say(server, mounter):
    """An fstab line with rw, or with kernel_cache (an option of earlier
    versions, now the only mode), still mounts, and read-only."""
    m = mounter(server.url, "rw", "kernel_cache")
    line = next(l for l in open("/proc/self/mounts") if l.split()[1] == str(m.path))
    assert "ro" in line.split()[3].split(","), line
    assert "rw" not in line.split()[3].split(","), line
    assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"
    with pytest.raises(OSError) as exc:
        open(m.p("tokens", "1", "name"), "w")
    assert exc.value.errno == errno.EROFS


def test_unmount_exits_zero(server, mounter):
    m = mounter(server.url)
    os.listdir(m.p("tokens"))
    assert m.unmount() == 0
    assert not is_mounted(m.path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_unmount_cleanly(server, mounter, sig):
    m = mounter(server.url)
    os.listdir(m.p("tokens"))
    m.proc.send_signal(sig)
    assert m.proc.wait(timeout=scaled(10)) == 0
    assert not is_mounted(m.path)


def test_single_threaded_mode_works(server, mounter):
    m = mounter(server.url, extra_args=["-s"])
    assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"


def test_plain_http_to_a_remote_host_warns(tmp_path, token_file):
    (tmp_path / "m").mkdir()
    # An unresolvable .invalid host: the warning comes before any request.
    m = Mount("http://synergy.invalid:8080", tmp_path / "m", token_file, ["connect_timeout=1"])
    try:
        m.wait_mounted()
        assert "plain http" in m.log() and "clear text" in m.log()
        with pytest.raises(OSError):
            os.listdir(m.p("tokens"))
        assert "resolve" in m.log()
    finally:
        assert m.unmount() == 0
        m.close()


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def test_tls_self_signed_is_refused_by_default(token, mounter, tls_cert):
    with StandIn(token=token, tls=tls_cert) as srv:
        assert srv.url.startswith("https://")
        m = mounter(srv.url)
        with pytest.raises(OSError):
            os.listdir(m.p("tokens"))
        assert "certificate" in m.log() and "cacert" in m.log()
        assert srv.count("list") == 0  # the token was never sent


def test_tls_with_cacert(token, mounter, tls_cert):
    with StandIn(token=token, tls=tls_cert) as srv:
        m = mounter(srv.url, f"cacert={tls_cert[0]}")
        assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"
        assert "warning" not in m.log()


def test_tls_insecure_works_with_a_warning(token, mounter, tls_cert):
    with StandIn(token=token, tls=tls_cert) as srv:
        m = mounter(srv.url, "insecure")
        assert "1" in os.listdir(m.p("tokens"))
        assert "insecure" in m.log() and "not verified" in m.log()


def test_connect_timeout_bounds_a_silent_listener(mounter):

    # A listener with a full accept queue: further SYNs are dropped, so
    # connecting hangs until connect_timeout.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.2)
        m = mounter(f"http://127.0.0.1:{port}", "connect_timeout=1", "timeout=30")
        t0 = time.monotonic()
        with pytest.raises(OSError) as exc:
            os.listdir(m.p("tokens"))
        took = time.monotonic() - t0
        assert exc.value.errno == errno.ETIMEDOUT, exc.value
        # Far from timeout=30 (what it would take without connect_timeout),
        # however slow the daemon.
        assert took < min(scaled(10), 25), took
        # How long libcurl waited, by its own clock: the machine's speed does
        # not stretch it, so the bound can be tight enough to catch a
        # connect timeout several times too long.
        # ("Failed to connect to 127.0.0.1 port N after 1000 ms: Timeout was
        # reached"; older libcurl: "Connection timed out after 1001 milliseconds")
        [line] = [l for l in m.log().splitlines() if "fetching the token list failed" in l]
        waited = int(re.search(r"after (\d+) (ms|milliseconds)", line).group(1))
        assert 900 <= waited < 4000, line
    finally:
        for c in fillers:
            c.close()
        lsock.close()


def test_debug_logs_requests_but_never_headers(server, mounter, token):
    m = mounter(server.url, extra_args=["-d"])
    os.listdir(m.p("tokens"))
    log = m.log()
    assert "GET /api/v1/auth/getPersonalAccessTokens -> 200" in log
    assert token not in log and "Authorization" not in log


def as_nobody(*cmd):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           *cmd], capture_output=True, text=True)


@contextlib.contextmanager
def public_mount(server, token_file, *opts):
    """A mount under a folder everyone may traverse (pytest's tmp is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="synergyfs-pub-"))
    base.chmod(0o755)
    m = Mount(server.url, base / "mnt", token_file, list(opts))
    try:
        m.wait_mounted()
        yield m
    finally:
        assert m.unmount() == 0
        m.close()
        shutil.rmtree(base)


def test_other_users_are_kept_out_by_default(server, token_file):
    with public_mount(server, token_file) as m:
        assert as_nobody("ls", str(m.path.parent)).returncode == 0  # the way there is open
        out = as_nobody("ls", str(m.p("tokens")))
        assert out.returncode != 0 and "Permission denied" in out.stderr


def test_allow_other_lets_other_users_read(server, token_file):
    with public_mount(server, token_file, "allow_other") as m:
        out = as_nobody("cat", str(m.p("tokens", "1", "name")))
        assert out.returncode == 0, out.stderr
        assert out.stdout == "Teams integ\n"


def test_refresh_takes_exactly_one_mount_point(tmp_path):
    """Neither URL nor token is needed; a missing or extra argument is a
    usage error, with the exit status of the others."""
    env = {k: v for k, v in os.environ.items() if k != "SYNERGY_TOKEN"}
    for args, why in ((["--refresh"], "missing mount point"),
                      (["--refresh", str(tmp_path), "extra"], "unexpected argument 'extra'")):
        out = subprocess.run([str(BINARY), *args], capture_output=True, text=True, env=env,
                             stdin=subprocess.DEVNULL, timeout=scaled(10))
        assert out.returncode == 1, out
        assert why in out.stderr and "--refresh MOUNTPOINT" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_refresh_of_what_is_not_a_synergyfs_mount_says_so(server, mounter, tmp_path):
    m = mounter(server.url, "cache_ttl=3600")
    assert "1" in os.listdir(m.p("tokens"))
    (tmp_path / "file").write_text("x\n")
    # Not FUSE, not a folder, and a folder inside the mount rather than its root.
    for path in ("/tmp", tmp_path / "file", m.p("tokens")):
        out = refresh(path)
        assert out.returncode == 1, out
        assert out.stderr == f"synergyfs: {path} is not a synergyfs mount\n"
    out = refresh(tmp_path / "nope")
    assert out.returncode == 1
    assert out.stderr == f"synergyfs: refresh of {tmp_path / 'nope'} failed: " \
                         "No such file or directory\n"
    assert server.count("list") == 1


@pytest.mark.parametrize("opts", [("allow_other",), ()])
def test_refresh_by_another_user_is_refused(server, token_file, opts):
    """Only the mounting user and root may make the mount fetch: another user
    is refused, whether the mount lets it in (allow_other) or not, and
    nothing is sent."""
    with public_mount(server, token_file, *opts) as m:
        assert "1" in os.listdir(m.p("tokens"))
        out = refresh(m.path, user="nobody")
        assert out.returncode == 1, out
        assert out.stderr == f"synergyfs: refresh of {m.path} failed: Permission denied\n"
        assert server.count("list") == 1
        if opts:  # let in, it may still read
            assert as_nobody("cat", str(m.p("tokens", "1", "name"))).stdout == "Teams integ\n"
        m.refreshed()
        assert server.count("list") == 2


def test_token_file_tilde_is_the_home_folder(server, mounter, tmp_path, token):
    home = tmp_path / "home"
    home.mkdir()
    (home / "token").write_text(token)
    (home / "token").chmod(0o600)
    env = dict(os.environ, HOME=str(home))
    m = mounter(server.url, "token_file=~/token", token_file=None, env=env)
    assert "1" in os.listdir(m.p("tokens"))


def test_allow_other_turns_on_default_permissions(server, token_file):
    with public_mount(server, token_file, "allow_other", "umask=077") as m:
        assert "default_permissions" in next(
            l for l in open("/proc/self/mounts") if l.split()[1] == str(m.path))
        out = as_nobody("cat", str(m.p("tokens", "1", "name")))
        assert out.returncode != 0 and "Permission denied" in out.stderr
        assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"  # the owner


def test_no_default_permissions_leaves_modes_unenforced(server, token_file):
    with public_mount(server, token_file, "allow_other", "umask=077",
                      "no_default_permissions") as m:
        out = as_nobody("cat", str(m.p("tokens", "1", "name")))
        assert out.returncode == 0 and out.stdout == "Teams integ\n"


def test_token_file_of_another_user_is_refused(tmp_path, token):
    f = tmp_path / "tok"
    f.write_text(token)
    f.chmod(0o600)
    os.chown(f, 65534, 65534)
    out = start_fail(["http://127.0.0.1:9", str(tmp_path), "-o", f"token_file={f}"])
    assert out.returncode == 1
    assert "belongs to uid 65534" in out.stderr and token not in out.stderr
