"""scripts/demo, the README's first command, end to end."""

import re
import subprocess

import pytest

from conftest import ROOT, is_mounted


def sections(stdout):
    """The tour's output by command: {"ls -l expiring expired": "its output", ...}."""
    parts = re.split(r"^\$ (.*)\n", stdout, flags=re.M)
    return {cmd: out for cmd, out in zip(parts[1::2], parts[2::2])}


def links(listing):
    """The symlinks an `ls -l` shows, as {name: target}."""
    return dict(re.findall(r"^l\S+ .* \d\d:?\d\d (.+) -> (\S+)$", listing, flags=re.M))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of `scripts/demo --once MNT`: (its completed process, MNT)."""
    mnt = tmp_path_factory.mktemp("demo") / "mnt"
    out = subprocess.run([str(ROOT / "scripts" / "demo"), "--once", str(mnt)],
                         capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return out, mnt


def test_demo_once_shows_the_tree_and_leaves_nothing_behind(demo):
    out, mnt = demo
    assert "is mounted on" in out.stdout
    tour = sections(out.stdout)
    assert links(tour["ls -l by-name"])["Teams integ"] == "../tokens/1"
    assert "tokens/1/name:Teams integ\n" in tour["grep . tokens/1/*"]
    assert "demo-token" not in out.stdout + out.stderr
    assert not is_mounted(mnt)
    leftovers = subprocess.run(["pgrep", "-f", "standin.py --demo"],
                               capture_output=True, text=True).stdout
    assert leftovers == ""


def test_demo_dates_are_relative_to_today(demo):
    """Whatever today's date: the demo tokens are valid for months, but for one
    expiring this week and one expired, and the tour shows both views, status
    and metrics.prom."""
    tour = sections(demo[0].stdout)

    days_left = int(re.search(r"^tokens/1/days_left:(-?\d+)$",
                              tour["grep . tokens/1/*"], re.M).group(1))
    assert 100 < days_left < 180
    assert "tokens/1/expired:0\n" in tour["grep . tokens/1/*"]

    views = tour["ls -l expiring expired"]
    expired_part, expiring_part = views.split("\nexpiring:\n")
    assert links(expiring_part) == {"asddadas": "../tokens/2"}
    assert links(expired_part) == {"Backup~7": "../tokens/7"}
    left = dict(re.findall(r"^(\w+)/.*/days_left:(-?\d+)$",
                           tour["grep . expiring/*/days_left expired/*/days_left"], re.M))
    assert 0 <= int(left["expiring"]) <= 7 and int(left["expired"]) < 0

    status = tour["cat status"]
    assert "last_result: ok\n" in status and "tokens: 10\n" in status
    metrics = tour["grep -e '^synergyfs_' -e 'name=\"asddadas\"' metrics.prom"]
    assert "synergyfs_tokens 10\n" in metrics
    assert 'synergy_pat_expired{id="2",name="asddadas",user="1_1"} 0\n' in metrics


def test_demo_creates_and_deletes_a_token(demo):
    """The tour makes a token with mkdir (its folder in new/ and its entry in
    by-name/ at once), lets go of its secret, and deletes it with rmdir."""
    tour = sections(demo[0].stdout)
    folder = tour["ls -l new/ci-runner && cat new/ci-runner/id"]
    tid = folder.strip().splitlines()[-1]
    assert links(folder)["token"] == f"../../tokens/{tid}"
    assert re.fullmatch(r"-r-------- .* secret", next(
        line for line in folder.splitlines() if line.endswith(" secret")))
    secret = tour["cat new/ci-runner/secret"].strip()
    assert len(secret) >= 16 and secret not in demo[0].stderr
    assert tour["ls by-name | grep ci-runner"].strip() == "ci-runner"
    assert tour["rm new/ci-runner/secret && ls new"].strip() == ""
    assert tour['rmdir tokens/$(readlink by-name/ci-runner | sed "s,.*/,,") && '
                'ls by-name | grep -c ci-runner'].strip() == "0"
    counts = tour["grep -e ^creates -e ^deletes status"]
    assert "creates_ok: 1\n" in counts and "deletes_ok: 1\n" in counts
