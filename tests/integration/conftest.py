"""Shared fixtures for the integration tests: a stand-in Synergy server on
loopback and real synergyfs mounts of it.

Every mount is started in the foreground (-f), waited for until the kernel
shows it, and always unmounted and reaped at the end of the test, even when
the test fails.  At teardown the daemon must have exited with status 0 and
must not have printed the bearer token or a sanitizer report.

The same tests run on other builds and under valgrind (scripts/test drives
this through the environment):

  SYNERGYFS_BUILD        the build folder whose synergyfs is mounted
  SYNERGYFS_WRAPPER      words put in front of every daemon command, e.g.
                         "valgrind --error-exitcode=99 ..."
  SYNERGYFS_TIME_FACTOR  how much slower the daemon is than a plain build;
                         waits and time limits are multiplied by it
  SYNERGYFS_REPORTS      a folder where sanitizer reports (log_path=) and
                         valgrind logs (--log-file=) land; a test during which
                         a new report appears fails, with the report
  SYNERGYFS_MOUNT_OPTS   options added to every mount, comma-separated
"""

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A shell starts background jobs with SIGINT ignored, the daemons would
# inherit that, and libfuse keeps an ignored SIGINT ignored: the tests of
# SIGINT need it to reach the daemon.  Handled here, it is reset at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, str(ROOT / "tests"))

from standin import StandIn  # noqa: E402

BUILD = Path(os.environ.get("SYNERGYFS_BUILD", ROOT / "build"))
BINARY = BUILD / "synergyfs"
WRAPPER = shlex.split(os.environ.get("SYNERGYFS_WRAPPER", ""))
TIME_FACTOR = max(1.0, float(os.environ.get("SYNERGYFS_TIME_FACTOR") or 1))
REPORTS = Path(os.environ["SYNERGYFS_REPORTS"]) if os.environ.get("SYNERGYFS_REPORTS") else None
EXTRA_OPTS = [o for o in os.environ.get("SYNERGYFS_MOUNT_OPTS", "").split(",") if o]
UNDER_VALGRIND = bool(WRAPPER) and os.path.basename(WRAPPER[0]) == "valgrind"
# Lines a daemon must never print (sanitizers, glibc aborts).
FORBIDDEN = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer",
             "UndefinedBehaviorSanitizer", "double free", "malloc():", "free(): invalid",
             "corrupted size", "stack smashing detected", "Segmentation fault")

MARKERS = {
    "concurrency": "stresses parallel access to one daemon; also run on the ThreadSanitizer "
                   "build (tests named *parallel* or *flapping* get it automatically)",
    "fault": "a fault scenario: the server or the network misbehaves",
    "bad_input": "feeds the daemon a bad URL, option, token file or server body",
    "valgrind": "runs the daemon under valgrind itself; skipped on sanitizer builds",
    "not_under_valgrind(reason)": "cannot work with the daemon under valgrind; skipped there",
}


def scaled(seconds):
    """A wait or time limit, stretched for a slow (sanitized or valgrind) daemon."""
    return seconds * TIME_FACTOR


def daemon_cmd(*args):
    """The command line that runs synergyfs with ARGS, wrapper included."""
    return WRAPPER + [str(BINARY), *map(str, args)]


def build_sanitizers():
    """The -Db_sanitize value the build was configured with ("none" if unknown)."""
    try:
        with open(BUILD / "meson-info" / "intro-buildoptions.json", encoding="utf-8") as f:
            opts = json.load(f)
    except (OSError, ValueError):
        return "none"
    return next((str(o["value"]) for o in opts if o.get("name") == "b_sanitize"), "none")


SANITIZERS = build_sanitizers()


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "parallel" in item.name or "flapping" in item.name:
            item.add_marker(pytest.mark.concurrency)
        if item.get_closest_marker("valgrind") and SANITIZERS != "none":
            item.add_marker(pytest.mark.skip(
                reason=f"valgrind cannot run a {SANITIZERS} sanitizer build"))
        m = item.get_closest_marker("not_under_valgrind")
        if m and UNDER_VALGRIND:
            item.add_marker(pytest.mark.skip(
                reason="not under valgrind: " + (m.args[0] if m.args else "")))
        # scripts/test counts test cases per marker from the JUnit report.
        names = sorted({m.name for m in item.iter_markers()} & {
            "concurrency", "fault", "bad_input"})
        item.user_properties.append(("markers", ",".join(names)))


def refresh(path, timeout=None, user=None):
    """Run `synergyfs --refresh PATH` to its end, as user (a name) if given:
    the CompletedProcess, with text output.  The client is the plain binary,
    never under SYNERGYFS_WRAPPER: it is the daemon that is under test."""
    cmd = [str(BINARY), "--refresh", str(path)]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=scaled(60) if timeout is None else timeout)


def is_mounted(path):
    with open("/proc/self/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == str(path) for line in f)


class Mount:
    """One synergyfs daemon serving one mount point.

    wrapper: words to run the daemon under; by default SYNERGYFS_WRAPPER.
    """

    def __init__(self, url, mnt, token_file, opts=(), env=None, extra_args=(), wrapper=None):
        self.path = Path(mnt)
        self.path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.path.parent / (self.path.name + ".log")
        self.url = url
        o = []
        if token_file is not None:
            o.append(f"token_file={token_file}")
        o.extend(opts)
        o.extend(EXTRA_OPTS)
        cmd = [str(BINARY), url, str(self.path), "-f"]
        if o:
            cmd += ["-o", ",".join(o)]
        cmd = list(WRAPPER if wrapper is None else wrapper) + cmd + list(extra_args)
        self.cmd = cmd
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        self.returncode = None

    def wait_mounted(self, timeout=None):
        timeout = scaled(30) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_mounted(self.path):
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"synergyfs exited with {self.proc.returncode} before "
                                     f"mounting:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"{self.path} not mounted after {timeout} s:\n{self.log()}")

    def log(self):
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, needle, timeout=None):
        """Wait until the daemon has printed needle; its log so far, or fail."""
        deadline = time.monotonic() + (scaled(30) if timeout is None else timeout)
        while needle not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not printed by the daemon:\n{self.log()}")
            time.sleep(0.05)
        return self.log()

    def p(self, *parts):
        return self.path.joinpath(*parts)

    def refresh(self, **kw):
        """Fetch the list now: `synergyfs --refresh` on this mount (see refresh())."""
        return refresh(self.path, **kw)

    def refreshed(self, **kw):
        """Fetch the list now, and fail the test unless that worked."""
        out = self.refresh(**kw)
        assert (out.returncode, out.stdout, out.stderr) == (0, "", ""), out
        return out

    def refresh_error(self, **kw):
        """Fetch the list now, which must fail: the reason synergyfs --refresh
        gave in its one line ("Permission denied", an errno's text)."""
        out = self.refresh(**kw)
        prefix = f"synergyfs: refresh of {self.path} failed: "
        assert out.returncode == 1 and out.stdout == "", out
        assert out.stderr.startswith(prefix) and out.stderr.count("\n") == 1, out.stderr
        return out.stderr[len(prefix):].rstrip("\n")

    def unmount(self, timeout=None):
        """Unmount the way a user does and return the daemon's exit status."""
        if self.returncode is not None:
            return self.returncode
        if is_mounted(self.path):
            subprocess.run(["fusermount3", "-u", str(self.path)], check=False,
                           capture_output=True)
        try:
            self.returncode = self.proc.wait(timeout=scaled(10) if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.returncode

    def kill(self):
        """Last resort: kill the daemon and lazily detach the mount."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        if is_mounted(self.path):
            subprocess.run(["fusermount3", "-uz", str(self.path)], check=False,
                           capture_output=True)
        self.returncode = self.proc.returncode

    def close(self):
        self._log.close()

    def reports(self):
        """The sanitizer or valgrind reports this daemon left in SYNERGYFS_REPORTS."""
        if REPORTS is None or not REPORTS.is_dir():
            return []
        pid = str(self.proc.pid)
        return [f for f in sorted(REPORTS.iterdir()) if pid in f.name.split(".")]


def report_problem(path):
    """What is wrong according to one report file, or None if it is clean."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.name.startswith("valgrind."):
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if m and m.group(1) == "0":
            return None
        if not m and "definitely lost" not in text and "Invalid " not in text:
            return None  # killed before the summary: the exit status tells
    elif not text.strip():
        return None
    return f"{path}:\n{text}"


@pytest.fixture(autouse=True)
def daemon_reports():
    """Fail the test if a daemon it ran left a sanitizer or valgrind report.

    Set up before, so torn down after, every other fixture of the test: the
    mounts are gone by the time the folder is looked at.
    """
    if REPORTS is None:
        yield
        return
    REPORTS.mkdir(parents=True, exist_ok=True)
    before = set(REPORTS.iterdir())
    yield
    problems = [p for p in (report_problem(f) for f in sorted(set(REPORTS.iterdir()) - before))
                if p]
    if problems:
        pytest.fail("a daemon reported errors:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def token():
    return "tok-" + secrets.token_urlsafe(24)


@pytest.fixture
def server(token):
    srv = StandIn(token=token).start()
    yield srv
    srv.stop()


@pytest.fixture
def token_file(tmp_path, token):
    path = tmp_path / "token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (token + "\n").encode())
    os.close(fd)
    return path


@pytest.fixture
def shared_folder():
    """A folder every user may traverse (pytest's tmp_path is 0700), for
    mounts another user tries; kept if a mount in it could not be undone."""
    base = Path(tempfile.mkdtemp(prefix="synergyfs-shared-"))
    base.chmod(0o755)
    yield base
    if not any(is_mounted(p) for p in base.iterdir()):
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mounter(tmp_path, token, token_file):
    """mounter(url, *opts, token_file=..., env=..., wait=True) -> Mount.

    Teardown unmounts each mount, checks that its daemon exited 0, and that
    nothing it printed contains the token or a sanitizer report.
    """
    mounts = []

    def make(url, *opts, token_file=token_file, env=None, wait=True, name=None,
             extra_args=(), wrapper=None):
        mnt = tmp_path / (name or f"mnt{len(mounts)}")
        m = Mount(url, mnt, token_file, opts, env=env, extra_args=extra_args, wrapper=wrapper)
        mounts.append(m)
        if wait:
            m.wait_mounted()
        return m

    yield make
    problems = []
    for m in mounts:
        rc = m.unmount()
        out = m.log()
        m.close()
        if rc not in (0, None) and not getattr(m, "expect_failure", False):
            problems.append(f"{m.path}: daemon exited with {rc}:\n{out}")
        if token in out:
            problems.append(f"{m.path}: the token appeared in the daemon's output")
        for bad in FORBIDDEN:
            if bad in out:
                problems.append(f"{m.path}: daemon printed {bad!r}:\n{out}")
        problems.extend(p for p in map(report_problem, m.reports()) if p)
    assert not problems, "\n".join(problems)


@pytest.fixture
def mount(server, mounter):
    """A mount of the default stand-in with a short TTL."""
    return mounter(server.url, "cache_ttl=2")


# The daemon's back-off after a failed fetch: the failure is the answer for
# 1 s, then 2, 4, ... seconds, never longer than the cache TTL.
def backoff_steps(elapsed, ttl):
    """How many back-off steps can have ended within elapsed seconds."""
    steps, t, step = 0, 0.0, 1.0
    while True:
        t += min(step, ttl)
        if t > elapsed:
            return steps
        steps += 1
        step *= 2


def fetches_allowed(elapsed, ttl):
    """Most fetches a failing server may see in elapsed seconds from the first:
    the first, and one for each back-off step that can have ended."""
    return 1 + backoff_steps(elapsed, ttl)


# libfuse's debug log (-d): each request as it is received, each reply as
# it is sent.
REQUEST_LINE = re.compile(r"^unique: (\d+), opcode: (\w+) \(\d+\), nodeid: (\d+),", re.M)
REPLY_LINE = re.compile(r"^   unique: (\d+), ", re.M)


def most_in_flight(log, counts=lambda opcode, nodeid: opcode != "INIT"):
    """The most requests the daemon held unanswered at once, by its -d log;
    only requests for which counts(opcode, nodeid) is true."""
    pending, most = set(), 0
    for line in log.splitlines():
        if m := REQUEST_LINE.match(line):
            if counts(m.group(2), int(m.group(3))):
                pending.add(m.group(1))
                most = max(most, len(pending))
        elif m := REPLY_LINE.match(line):
            pending.discard(m.group(1))
    return most


def fuse_library_version(log):
    """The libfuse version a daemon run with -d printed, as a tuple (or None)."""
    m = re.search(r"^FUSE library version: (\d+)\.(\d+)", log, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else None


def eventually(fn, timeout, pause=0.1):
    """fn()'s first true value within timeout seconds (scaled), or its last."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            value = fn()
        except OSError:
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(pause)
