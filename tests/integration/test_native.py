"""Native on Linux: meson install, mount(8) and fstab, mount-only options,
auto_unmount, starting in the background, syslog, systemd readiness, the
man page."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BINARY, BUILD, ROOT, Mount, is_mounted, scaled


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def daemons_on(mnt):
    out = subprocess.run(["pgrep", "-f", f"synergyfs .* {re.escape(str(mnt))}"],
                         capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`meson install` into a temporary destination: (bindir, mandir)."""
    dest = tmp_path_factory.mktemp("dest")
    subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest),
                    "--no-rebuild", "--quiet"], check=True, capture_output=True)
    prefix = subprocess.run(["meson", "introspect", str(BUILD), "--buildoptions"],
                            capture_output=True, text=True, check=True).stdout
    prefix = re.search(r'"name": "prefix", "value": "([^"]+)"', prefix).group(1)
    bindir = dest / prefix.lstrip("/") / "bin"
    mandir = dest / prefix.lstrip("/") / "share" / "man" / "man1"
    assert (bindir / "synergyfs").is_file()
    assert (mandir / "synergyfs.1").is_file()
    return bindir, mandir


def in_private_namespace(script, bindir):
    """Run a shell script in a private mount namespace whose /usr/local/bin is
    the installed bindir: mount(8) clears PATH before it runs mount.fuse3, and
    the shell that starts synergyfs then searches the default path."""
    wrapped = f"set -e\nmount --bind '{bindir}' /usr/local/bin\n{script}"
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", wrapped],
                          capture_output=True, text=True, timeout=60)


def test_mount_t_fuse_synergyfs_through_mount8(server, token_file, installed, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = in_private_namespace(f"""
mount -t fuse.synergyfs '{server.url}' '{mnt}' -o token_file={token_file},allow_other,_netdev
grep ' {mnt} fuse.synergyfs ' /proc/self/mounts
cat '{mnt}/tokens/1/name'
umount '{mnt}'
""", installed[0])
    assert out.returncode == 0, out.stderr
    assert "Teams integ\n" in out.stdout
    assert f"{server.url} {mnt} fuse.synergyfs" in out.stdout
    assert wait_for(lambda: not daemons_on(mnt))


def test_fstab_line(server, token_file, installed, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(f"{server.url}  {mnt}  fuse.synergyfs  "
                     f"token_file={token_file},_netdev,nofail,noauto,allow_other,auto_unmount,"
                     f"x-systemd.automount,x-systemd.requires=network-online.target  0 0\n")
    out = in_private_namespace(f"""
mount -T '{fstab}' '{mnt}'
cat '{mnt}/by-name/Teams integ/expiry'
umount '{mnt}'
""", installed[0])
    assert out.returncode == 0, out.stderr
    assert "2025-09-10T10:53:38.67+08:00\n" in out.stdout
    assert out.stderr == ""
    assert wait_for(lambda: not daemons_on(mnt))


def test_mount_only_options_are_accepted_quietly(server, mounter):
    m = mounter(server.url, "_netdev", "nofail", "noauto", "auto", "user", "defaults",
                "x-systemd.automount", "x-systemd.mount-timeout=30", "comment=x",
                "rw", "dev", "suid", "exec", "nodev", "nosuid", "noexec")
    assert m.p("tokens", "1", "id").read_text() == "1\n"
    assert "unknown option" not in m.log() and "warning" not in m.log()


def test_ro_mount_option(server, mounter):
    m = mounter(server.url, "ro")
    assert "ro" in next(l for l in open("/proc/self/mounts")
                        if l.split()[1] == str(m.path)).split()[3].split(",")
    assert m.p("tokens", "1", "id").read_text() == "1\n"


def fusermount_helpers(mnt):
    """PIDs of fusermount3 processes serving mount point mnt (auto_unmount)."""
    out = subprocess.run(["pgrep", "-f", f"fusermount3 .*{re.escape(str(mnt))}"],
                         capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_auto_unmount_after_kill_9(server, mounter):
    m = mounter(server.url, "auto_unmount")
    assert m.p("tokens", "1", "id").read_text() == "1\n"
    assert fusermount_helpers(m.path), "no auto_unmount helper"
    m.expect_failure = True  # killed: no clean exit status to check
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=scaled(60))
    # The helper unmounts once it sees the daemon gone, then exits: wait for
    # that evidence, not for a time (a loaded machine can take seconds).
    assert wait_for(lambda: not fusermount_helpers(m.path), timeout=120), "helper still there"
    assert not is_mounted(m.path), "still mounted after the daemon died"


def test_background_start_returns_once_mounted(server, token_file, tmp_path):
    mnt = tmp_path / "bg"
    mnt.mkdir()
    out = subprocess.run([str(BINARY), server.url, str(mnt), "-o", f"token_file={token_file}"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    try:
        assert out.returncode == 0, out.stderr
        assert is_mounted(mnt)  # in place when the command returns
        assert (mnt / "tokens" / "1" / "name").read_text() == "Teams integ\n"
        assert len(daemons_on(mnt)) == 1
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
    assert wait_for(lambda: not daemons_on(mnt))


@pytest.mark.parametrize("opt, why", [
    ("token_file=/nonexistent/token", "cannot open token file"),
    ("cache_ttl=soon", "cache_ttl must be"),
])
def test_background_start_reports_errors_on_the_terminal(tmp_path, opt, why):
    mnt = tmp_path / "bg"
    mnt.mkdir()
    out = subprocess.run([str(BINARY), "http://127.0.0.1:9", str(mnt), "-o", opt],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    assert why in out.stderr
    assert not is_mounted(mnt) and not daemons_on(mnt)


# Run "$@" in a mount namespace of its own whose /dev is a tmpfs: every
# entry of the real /dev is a symlink there, except log, which is a symlink
# to $1, the test's own socket.  Nothing outside changes, whether or not a
# syslog daemon (journald, rsyslog) owns the machine's /dev/log.
PRIVATE_DEV_LOG = r"""
set -e
sock=$1 stash=$2
shift 2
mount --make-rprivate /
mount --rbind /dev "$stash"
mount -t tmpfs -o mode=755 synergyfs-test-dev /dev
for e in "$stash"/* "$stash"/.[!.]*; do
	[ -e "$e" ] || [ -L "$e" ] || continue
	ln -s "$e" "/dev/${e##*/}"
done
rm -f /dev/log
ln -s "$sock" /dev/log
exec "$@"
"""


@pytest.fixture
def dev_log(tmp_path):
    """(socket, command prefix): a syslog listener that is /dev/log for what the
    prefix runs, in a mount namespace of its own."""
    path = tmp_path / "log.sock"
    stash = tmp_path / "dev"
    stash.mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    try:
        yield sock, ["unshare", "-m", "sh", "-c", PRIVATE_DEV_LOG, "sh", str(path), str(stash)]
    finally:
        sock.close()


def test_detached_daemon_logs_to_syslog(server, token_file, tmp_path, dev_log, token):
    sock, in_namespace = dev_log
    mnt = tmp_path / "bg"
    mnt.mkdir()
    server.fault("status", code=500)
    out = subprocess.run(in_namespace + [str(BINARY), server.url, str(mnt),
                                         "-o", f"token_file={token_file}"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    pids = daemons_on(mnt)
    # The mount is in the daemon's namespace only: act there.
    there = ["nsenter", "-t", str(pids[0]), "-m", "--"] if pids else []
    try:
        assert out.returncode == 0, out.stderr
        assert len(pids) == 1, pids
        ls = subprocess.run(there + ["ls", str(mnt / "tokens")], capture_output=True, text=True,
                            timeout=30)
        assert ls.returncode != 0 and "Input/output error" in ls.stderr, ls
        lines = []
        while not any("HTTP 500" in l for l in lines):
            lines.append(sock.recv(4096).decode(errors="replace"))
        line = next(l for l in lines if "HTTP 500" in l)
        # <27> = facility daemon (3) * 8 + severity err (3); then the ident and pid.
        assert re.match(r"<27>\w{3} [ \d]\d \d\d:\d\d:\d\d synergyfs\[%d\]: error: "
                        r"fetching the token list failed: HTTP 500" % pids[0], line), line
        assert token not in "".join(lines)
    finally:
        if pids:
            subprocess.run(there + ["fusermount3", "-u", str(mnt)], capture_output=True)
        if not wait_for(lambda: not daemons_on(mnt)):
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
    assert not daemons_on(mnt)


def test_systemd_notify_ready_and_stopping(server, mounter, tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    try:
        m = mounter(server.url, env=dict(os.environ, NOTIFY_SOCKET=str(path)), wait=False)
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.split("\n")
        assert is_mounted(m.path)  # ready means mounted
        assert m.unmount() == 0
        assert "STOPPING=1" in sock.recv(4096).decode().split("\n")
    finally:
        sock.close()


def test_man_page_builds_cleanly_and_is_installed(installed):
    page = ROOT / "doc" / "synergyfs.1"
    out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    text = page.read_text()
    # That it names every option --help prints: test_cli.py, test_help_and_man_page_...
    assert (installed[1] / "synergyfs.1").read_text() == text
    rendered = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                              env=dict(os.environ, MANWIDTH="80")).stdout
    for section in ("SYNOPSIS", "OPTIONS", "ENVIRONMENT", "SIGNALS", "EXIT STATUS", "EXAMPLES",
                    "SECURITY", "FILES"):
        assert section in rendered
