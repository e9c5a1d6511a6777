"""scripts/demo, the README's first command, end to end."""

import subprocess
from pathlib import Path

from conftest import ROOT, is_mounted


def test_demo_once_shows_the_tree_and_leaves_nothing_behind(tmp_path):
    mnt = tmp_path / "demo-mnt"
    out = subprocess.run([str(ROOT / "scripts" / "demo"), "--once", str(mnt)],
                         capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert "is mounted on" in out.stdout
    assert "Teams integ -> ../tokens/1" in out.stdout
    assert "2025-09-10T10:53:38.67+08:00" in out.stdout
    assert "demo-token" not in out.stdout + out.stderr
    assert not is_mounted(mnt)
    leftovers = subprocess.run(["pgrep", "-f", "standin.py --token-file"],
                               capture_output=True, text=True).stdout
    assert leftovers == ""
