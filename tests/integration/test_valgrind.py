"""A whole session under valgrind memcheck: no error, no definite leak."""

import errno
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import eventually


@pytest.mark.valgrind
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_walk_refresh_errors_and_unmount_are_valgrind_clean(server, mounter, tmp_path):
    vlog = tmp_path / "valgrind.log"
    m = mounter(server.url, "cache_ttl=1", wrapper=[
        "valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
        "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
        f"--log-file={vlog}"])
    subprocess.run(["ls", "-lR", str(m.path)], check=True, capture_output=True)
    subprocess.run(["find", str(m.path), "-type", "f", "-exec", "cat", "{}", "+"],
                   check=True, capture_output=True)
    # A refresh that replaces the snapshot, a failing one (stale), a recovery.
    server.remove_token(2)
    time.sleep(1.2)
    # Under valgrind the refresh may well outlast refresh_wait (1 s): the
    # access is answered stale, and the new list comes a little later.
    # (eventually() scales by TIME_FACTOR, which is 1 for this daemon's build.)
    assert eventually(lambda: "2" not in os.listdir(m.p("tokens")), 30)
    server.fault("malformed")
    time.sleep(1.2)
    assert "1" in os.listdir(m.p("tokens"))
    # And on demand, through the ioctl of synergyfs --refresh: failing, then not.
    assert m.refresh_error() == os.strerror(errno.EIO)
    server.clear_fault()
    m.refreshed()
    time.sleep(2.2)
    assert m.p("by-name", "Backup~7", "name").read_text() == "Backup\n"
    rc = m.unmount(timeout=60)
    report = vlog.read_text()
    assert rc == 0, report
    assert not re.search(r"definitely lost: [1-9]", report), report
    assert "ERROR SUMMARY: 0" in report or report.strip() == "", report
