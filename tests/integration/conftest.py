"""Shared fixtures for the integration tests: a stand-in Synergy server on
loopback and real synergyfs mounts of it.

Every mount is started in the foreground (-f), waited for until the kernel
shows it, and always unmounted and reaped at the end of the test, even when
the test fails.  At teardown the daemon must have exited with status 0 and
must not have printed the bearer token or a sanitizer report.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from standin import StandIn  # noqa: E402

BUILD = Path(os.environ.get("SYNERGYFS_BUILD", ROOT / "build"))
BINARY = BUILD / "synergyfs"
# Lines a daemon must never print (sanitizers, glibc aborts).
FORBIDDEN = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer",
             "double free", "malloc():", "Segmentation fault")


def is_mounted(path):
    with open("/proc/self/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == str(path) for line in f)


class Mount:
    """One synergyfs daemon serving one mount point."""

    def __init__(self, url, mnt, token_file, opts=(), env=None, extra_args=(), wrapper=()):
        self.path = Path(mnt)
        self.path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.path.parent / (self.path.name + ".log")
        self.url = url
        o = []
        if token_file is not None:
            o.append(f"token_file={token_file}")
        o.extend(opts)
        cmd = [str(BINARY), url, str(self.path), "-f"]
        if o:
            cmd += ["-o", ",".join(o)]
        cmd = list(wrapper) + cmd + list(extra_args)
        self.cmd = cmd
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        self.returncode = None

    def wait_mounted(self, timeout=30):
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

    def p(self, *parts):
        return self.path.joinpath(*parts)

    def unmount(self, timeout=10):
        """Unmount the way a user does and return the daemon's exit status."""
        if self.returncode is not None:
            return self.returncode
        if is_mounted(self.path):
            subprocess.run(["fusermount3", "-u", str(self.path)], check=False,
                           capture_output=True)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
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
def mounter(tmp_path, token, token_file):
    """mounter(url, *opts, token_file=..., env=..., wait=True) -> Mount.

    Teardown unmounts each mount, checks that its daemon exited 0, and that
    nothing it printed contains the token or a sanitizer report.
    """
    mounts = []

    def make(url, *opts, token_file=token_file, env=None, wait=True, name=None,
             extra_args=(), wrapper=()):
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
    assert not problems, "\n".join(problems)


@pytest.fixture
def mount(server, mounter):
    """A mount of the default stand-in with a short TTL."""
    return mounter(server.url, "cache_ttl=2")
