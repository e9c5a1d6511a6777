#!/usr/bin/env python3
"""The synergyfs benchmark; run it through scripts/bench, which builds first.

For each list size N it starts the stand-in server with N generated tokens
and measures, side by side in one run:

  cold   mount + first `ls -l tokens`, against the curl + jq line a user
         would type instead; the first `ls -lR` and `find -exec cat` on a
         fresh mount (the fetch included), against tmpfs warm
  warm   five walks of tokens/ on a mount that has fetched, against the same
         tree copied to a tmpfs; the first, `ls -l tokens`, has no target: it
         is the floor under the cold `ls -l tokens`, once nothing is fetched
  upstream requests made by each walk (the stand-in's counter), and the
  requests the kernel sent the daemon in it (its read() calls on /dev/fuse)
  refresh  snap_parse (parse + build) of the list body (tests/bench/bench_snapshot)
  memory   the daemon's peak RSS (VmHWM) after `ls -l tokens` and after
           reading every file, against the size of the JSON body

Timing is our own loop: time.perf_counter() around subprocess.run() of the
command, its output to /dev/null.  The two sides of a comparison alternate
repetition by repetition, so drift in the machine's load hits both.  The
result goes to a table on stdout and to results/bench-<UTC time>.{csv,json}.
Targets are printed next to the figures; a miss does not fail the run, a
failing command does.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standin.py"
LIST_PATH = "/api/v1/auth/getPersonalAccessTokens"
# The long TTL keeps every warm walk on one fetch.
MOUNT_OPTS = "cache_ttl=3600"
JQ_FILTER = r'.[] | "\(.ID) \(.Name) \(.Expiry)"'


class BenchError(Exception):
    """Something the benchmark depends on failed: the run exits non-zero."""


# ---- processes and mounts: everything started here is ended here ----------


@dataclass
class Daemon:
    path: Path              # the mount point
    proc: subprocess.Popen
    log: Path
    started: float          # perf_counter() just before the daemon was started


class Session:
    """Owns the work folder, the stand-in, every daemon and every tmpfs, and
    ends each of them by PID or by path in close(), whatever happened."""

    def __init__(self, build: Path):
        self.exe = build / "synergyfs"
        self.snapshot_exe = build / "tests" / "bench" / "bench_snapshot"
        self.work = Path(tempfile.mkdtemp(prefix="synergyfs-bench."))  # mode 0700
        self.token_file = self.work / "token"
        self.header_file = self.work / "auth-header"  # for curl -H @file
        token = secrets.token_urlsafe(24)
        write_private(self.token_file, token + "\n")
        write_private(self.header_file, f"Authorization: Bearer {token}\n")
        self.server: subprocess.Popen | None = None
        self.url = ""
        self.daemons: list[Daemon] = []
        self.tmpfs: list[Path] = []

    # -- the stand-in server
    def start_server(self, n: int) -> None:
        port_file = self.work / f"port.{n}"
        log = open(self.work / f"standin.{n}.log", "wb")
        self.server = subprocess.Popen(
            [sys.executable, str(STANDIN), "--tokens", str(n), "--port", "0",
             "--port-file", str(port_file), "--token-file", str(self.token_file), "--quiet"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)  # Ctrl-C reaches us only; we end it in order
        log.close()
        deadline = time.monotonic() + 120
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.server.poll() is not None:
                raise BenchError("the stand-in server exited: " + tail(self.work / f"standin.{n}.log"))
            if time.monotonic() > deadline:
                raise BenchError("the stand-in server did not start within 120 s")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def stop_server(self) -> None:
        if self.server is not None:
            end_process(self.server, grace=0)
            self.server = None

    def control(self, name: str, post: bool = False) -> dict:
        """GET or POST /_standin/<name> (no token needed)."""
        req = urllib.request.Request(f"{self.url}/_standin/{name}",
                                     data=b"" if post else None, method="POST" if post else "GET")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def reset_counts(self) -> None:
        self.control("reset-counts", post=True)

    def list_requests(self) -> int:
        return self.control("counts")["list"]

    # -- synergyfs mounts
    def mount(self) -> Daemon:
        """Start a daemon in the foreground on a fresh folder; return once mounted."""
        path = Path(tempfile.mkdtemp(dir=self.work, prefix="mnt."))
        log = path.parent / (path.name + ".log")
        with open(log, "wb") as f:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [str(self.exe), self.url, str(path), "-f",
                 "-o", f"token_file={self.token_file},{MOUNT_OPTS}"],
                stdout=subprocess.DEVNULL, stderr=f, stdin=subprocess.DEVNULL,
                start_new_session=True)
        d = Daemon(path, proc, log, started)
        self.daemons.append(d)
        # A tight poll: cold timings start at `started`, so its slack counts.
        while not os.path.ismount(path):
            if proc.poll() is not None:
                raise BenchError(f"synergyfs exited with {proc.returncode} before mounting: "
                                 + tail(log))
            if time.perf_counter() - started > 30:
                raise BenchError("synergyfs did not mount within 30 s")
            time.sleep(0.0005)
        return d

    def unmount(self, d: Daemon, check: bool = True) -> None:
        """Unmount (lazily if it is busy), reap the daemon, check its exit and log."""
        if os.path.ismount(d.path):
            if run_quiet(["fusermount3", "-u", str(d.path)]) != 0:
                run_quiet(["fusermount3", "-uz", str(d.path)])
        rc = end_process(d.proc)
        self.daemons.remove(d)
        try:
            d.path.rmdir()
        except OSError:
            pass
        if check:
            if rc != 0:
                raise BenchError(f"synergyfs exited with {rc}: {tail(d.log)}")
            problems = [l for l in d.log.read_text(errors="replace").splitlines()
                        if ": error:" in l or ": warning:" in l]
            if problems:
                raise BenchError("synergyfs logged: " + "; ".join(problems[:5]))

    # -- tmpfs
    def mount_tmpfs(self, name: str) -> Path:
        path = self.work / name
        path.mkdir()
        if run_quiet(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(path)]) != 0:
            raise BenchError(f"mount -t tmpfs on {path} failed (this needs root)")
        self.tmpfs.append(path)
        return path

    def unmount_tmpfs(self, path: Path) -> None:
        if run_quiet(["umount", str(path)]) != 0:
            run_quiet(["umount", "-l", str(path)])
        self.tmpfs.remove(path)

    def close(self) -> None:
        """End everything still running or mounted; never raises."""
        for d in list(self.daemons):
            try:
                self.unmount(d, check=False)
            except Exception as exc:  # keep going: the rest must still be ended
                print(f"bench: cleanup: {exc}", file=sys.stderr)
        for path in list(self.tmpfs):
            self.unmount_tmpfs(path)
        self.stop_server()
        shutil.rmtree(self.work, ignore_errors=True)


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def end_process(p: subprocess.Popen, grace: float = 10) -> int:
    """Wait grace seconds for p to end by itself, then SIGTERM it, then SIGKILL;
    returns its exit status."""
    for sig, wait in ((None, grace), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if sig is not None and p.poll() is None:
            p.send_signal(sig)
        try:
            return p.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return p.wait()


def run_quiet(argv: list[str]) -> int:
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(no output)"
    except OSError:
        return "(no log)"


# ---- timing ------------------------------------------------------------------


def run_walk(argv: list[str], cwd: Path) -> float:
    """Run one command in cwd, output discarded; its wall time in ms.  A
    non-zero exit (a walk that hit an error) fails the benchmark."""
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL)
    ms = (time.perf_counter() - t0) * 1e3
    if r.returncode != 0:
        raise BenchError(f"`{shlex.join(argv)}` in {cwd} exited with {r.returncode}: "
                         + r.stderr.decode(errors="replace").strip()[:300])
    return ms


@dataclass
class Walk:
    key: str
    argv: list[str]
    note: str = ""

    @property
    def text(self) -> str:
        return self.argv[2] if self.argv[:2] == ["bash", "-c"] else shlex.join(self.argv)


def walks(n: int) -> list[Walk]:
    """The warm walks, run from the folder holding tokens/."""
    # `cat tokens/*/expiry` as typed fits in one argv up to some tens of
    # thousands of tokens; past ARG_MAX the same glob is fed to xargs.
    argv_bytes = n * (len("tokens//expiry") + len(str(n)) + 1 + 8)
    if argv_bytes < os.sysconf("SC_ARG_MAX") // 2:
        expiry = Walk("cat_expiry", ["bash", "-c", "cat tokens/*/expiry"])
    else:
        expiry = Walk("cat_expiry", ["bash", "-c", r"printf '%s\0' tokens/*/expiry | xargs -0 cat"],
                      "the glob is too long for one argv: fed to xargs")
    return [
        Walk("ls_l", ["ls", "-l", "tokens"],
             "no target: the floor under the cold `ls -l tokens`, nothing left to fetch"),
        Walk("ls_lR", ["ls", "-lR", "tokens"]),
        Walk("find_cat", ["find", "tokens", "-type", "f", "-exec", "cat", "{}", "+"]),
        expiry,
        Walk("stat_all", ["find", "tokens", "-type", "f", "-exec", "stat", "--format=%s", "{}", "+"]),
    ]


# ---- results -------------------------------------------------------------------


@dataclass
class Row:
    size: int
    key: str
    measurement: str
    command: str
    unit: str                       # "ms" or "MiB"
    samples: list[float]
    baseline: str = ""
    base_command: str = ""
    base_samples: list[float] = field(default_factory=list)
    limit: float | None = None      # target ratio (or absolute ms for refresh)
    target: str = ""
    requests: str = ""              # what the upstream counter said
    requests_ok: bool | None = None
    note: str = ""
    fuse: list[int] = field(default_factory=list)  # requests to the daemon, per timed run

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def base_median(self) -> float | None:
        return statistics.median(self.base_samples) if self.base_samples else None

    @property
    def ratio(self) -> float | None:
        b = self.base_median
        return self.median / b if b else None

    @property
    def status(self) -> str:
        if self.limit is None:
            return "-"
        value = self.ratio if self.base_samples else self.median
        return "pass" if value <= self.limit else "MISS"


def fmt(value: float, unit: str) -> str:
    if unit == "MiB":
        return f"{value:.1f} MiB" if value >= 1 else f"{value * 1024:.0f} KiB"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def fmt_stats(samples: list[float], unit: str) -> str:
    if not samples:
        return "-"
    med = fmt(statistics.median(samples), unit)
    if len(samples) == 1:
        return med
    return f"{med} [{fmt(min(samples), unit)}-{fmt(max(samples), unit)}]"


def fmt_counts(counts: list[int]) -> str:
    if not counts:
        return "-"
    med = f"{statistics.median(counts):,.0f}"
    return med if len(counts) == 1 else f"{med} [{min(counts):,}-{max(counts):,}]"


def print_table(rows: list[Row]) -> None:
    head = ["N", "measurement", "synergyfs median [min-max]", "baseline",
            "baseline median [min-max]", "ratio", "target", "", "upstream requests",
            "FUSE requests"]
    table = [head]
    for r in rows:
        table.append([
            f"{r.size:,}", r.measurement, fmt_stats(r.samples, r.unit), r.baseline or "-",
            fmt_stats(r.base_samples, r.unit),
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
            r.target or "-", r.status, r.requests or "-", fmt_counts(r.fuse)])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(c.rjust(w) if j in (0, 5) else c.ljust(w)
                        for j, (c, w) in enumerate(zip(row, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def write_results(rows: list[Row], meta: dict, out: Path, stamp: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / f"bench-{stamp}.csv", out / f"bench-{stamp}.json"
    cols = ["size", "key", "measurement", "command", "unit", "median", "min", "max",
            "baseline", "baseline_command", "baseline_median", "baseline_min", "baseline_max",
            "ratio", "target", "status", "requests", "fuse_requests_median", "note"]
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            b = r.base_samples
            w.writerow([r.size, r.key, r.measurement, r.command, r.unit,
                        round(r.median, 3), round(min(r.samples), 3), round(max(r.samples), 3),
                        r.baseline, r.base_command,
                        round(statistics.median(b), 3) if b else "",
                        round(min(b), 3) if b else "", round(max(b), 3) if b else "",
                        round(r.ratio, 3) if r.ratio is not None else "",
                        r.target, r.status, r.requests,
                        statistics.median(r.fuse) if r.fuse else "", r.note])
    doc = {"meta": meta, "rows": [{
        "size": r.size, "key": r.key, "measurement": r.measurement, "command": r.command,
        "unit": r.unit, "median": r.median, "min": min(r.samples), "max": max(r.samples),
        "samples": r.samples, "baseline": r.baseline or None,
        "baseline_command": r.base_command or None, "baseline_samples": r.base_samples,
        "baseline_median": r.base_median, "ratio": r.ratio, "target": r.target or None,
        "status": r.status, "requests": r.requests or None, "requests_ok": r.requests_ok,
        "fuse_requests": r.fuse, "note": r.note or None} for r in rows]}
    json_path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return csv_path, json_path


# ---- the measurements ------------------------------------------------------------


WARM_TARGETS = {"cat_expiry": 1.3, "find_cat": 1.5, "ls_lR": 2.5, "stat_all": 3.5}
COLD_WALK_TARGET = 4.5
COLD_LS_TARGET = 1.3
SNAPSHOT_TARGET_MS = 250.0
RSS_LS_TARGET, RSS_WALK_TARGET = 3.0, 5.0
TARGET_SIZE = 100_000            # refresh and memory targets apply here
WARM_TARGET_MIN_SIZE = 10_000    # warm walk targets apply from here
COLD_TARGET_SIZE = 10_000        # cold targets apply here (issue 5: "10,000 unless said")


START = time.monotonic()


LEGEND = [
    "how: cold = a fresh mount per repetition; `ls -l` is timed from starting the daemon, the",
    "  cold walks from the start of the walk (the fetch is inside it), against the tmpfs warm",
    "  median.  warm = on a mount that has fetched, after one untimed run of each side.",
    "  refresh = tests/bench/bench_snapshot, in C, no HTTP.  memory = the daemon's VmHWM",
    "  (/proc/PID/status) on a fresh mount, against the size of the JSON body.",
    "  FUSE requests = what the kernel sent the daemon in one timed run: its read() calls on",
    "  /dev/fuse (syscr in /proc/PID/io).  Warm, through the page cache, each is a miss: a",
    "  body the kernel no longer held (reclaimed, or never stored).",
]


def progress(msg: str) -> None:
    print(f"  [{time.monotonic() - START:5.0f} s] {msg}", flush=True)


def vm_bytes(pid: int, field_name: str) -> int:
    """A size from /proc/PID/status: VmHWM (peak resident set) or VmRSS (now)."""
    m = re.search(rf"^{field_name}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    if not m:
        raise BenchError(f"no {field_name} in /proc/{pid}/status")
    return int(m.group(1)) * 1024


def fuse_requests(pid: int) -> int:
    """How many requests the daemon has read from the kernel so far: its
    read() calls, which it makes only on /dev/fuse once mounted (the HTTP
    client receives with recv(), which syscr does not count)."""
    m = re.search(r"^syscr:\s+(\d+)$", Path(f"/proc/{pid}/io").read_text(), re.M)
    if not m:
        raise BenchError(f"no syscr in /proc/{pid}/io")
    return int(m.group(1))


def requests_text(counts: list[int], expected: int, what: str) -> tuple[str, bool]:
    ok = all(c == expected for c in counts)
    if expected == 1:
        text = "1 per walk" if ok else "per walk: " + ",".join(map(str, counts))
    else:
        text = f"{sum(counts)} in {what}"
    return (text if ok else text + f" (expected {expected}) MISS"), ok


def measure_size(s: Session, n: int, reps: int, timed_walks: bool = True) -> list[Row]:
    """Every measurement at one list size, against one stand-in server."""
    s.start_server(n)
    progress(f"{n:,} tokens: stand-in at {s.url}")
    # The JSON body, fetched once: the size the memory ratios divide by, and
    # the input of the refresh benchmark.
    body = s.work / f"body.{n}.json"
    subprocess.run(["bash", "-c", f"set -o pipefail; {curl_cmd(s)} >{shlex.quote(str(body))}"],
                   check=True)
    if len(json.loads(body.read_bytes())) != n:
        raise BenchError(f"the stand-in did not serve {n} tokens")

    rows = [measure_refresh(s, n, reps, body), measure_cold_ls(s, n, reps)]
    rows += measure_memory(s, n, body.stat().st_size)
    if timed_walks:  # not --no-walks
        warm = measure_warm_walks(s, n, reps)
        rows += warm
        rows += measure_cold_walks(s, n, reps, warm)
    s.stop_server()
    return rows


def curl_cmd(s: Session) -> str:
    """What a user runs instead of the mount; the token comes from a file."""
    return f"curl -s -H @{shlex.quote(str(s.header_file))} {s.url}{LIST_PATH}"


def measure_refresh(s: Session, n: int, reps: int, body: Path) -> Row:
    """Refresh cost: snap_parse (parse + build), in C, R times after one untimed run."""
    progress("refresh (bench_snapshot)")
    r = subprocess.run([str(s.snapshot_exe), str(body), str(reps)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("bench_snapshot failed: " + r.stderr.strip())
    snap = json.loads(r.stdout)
    if snap["tokens"] != n:
        raise BenchError(f"bench_snapshot built {snap['tokens']} tokens, not {n}")
    at_target = n == TARGET_SIZE
    return Row(n, "refresh", "refresh: parse + build (snap_parse)", "bench_snapshot BODY R",
               "ms", snap["samples_ms"], limit=SNAPSHOT_TARGET_MS if at_target else None,
               target=f"<= {SNAPSHOT_TARGET_MS:.0f} ms" if at_target else "")


def measure_cold_ls(s: Session, n: int, reps: int) -> Row:
    """Cold listing: from starting the daemon to the end of the first
    `ls -l tokens` on a fresh mount, against curl + jq.  One untimed round of
    each comes first (page cache, the stand-in's encoded body)."""
    progress("cold: mount + ls -l tokens, vs curl + jq")
    pipeline = ["bash", "-c", f"set -o pipefail; {curl_cmd(s)} | jq -r {shlex.quote(JQ_FILTER)}"]
    lines = subprocess.run(pipeline, capture_output=True, check=True).stdout.count(b"\n")
    if lines != n:
        raise BenchError(f"curl + jq printed {lines} lines, not {n}")
    fs_ms, jq_ms, counts, fuse = [], [], [], []
    for rep in range(reps + 1):
        s.reset_counts()
        d = s.mount()
        if rep == 0 and len(os.listdir(d.path / "tokens")) != n:  # the untimed round
            raise BenchError(f"the mount does not list {n} tokens")
        run_walk(["ls", "-l", "tokens"], d.path)
        elapsed = (time.perf_counter() - d.started) * 1e3
        if rep:
            fs_ms.append(elapsed)
            counts.append(s.list_requests())
            fuse.append(fuse_requests(d.proc.pid))
        s.unmount(d)
        elapsed = run_walk(pipeline, ROOT)
        if rep:
            jq_ms.append(elapsed)
    req, ok = requests_text(counts, 1, "")
    at_target = n == COLD_TARGET_SIZE
    return Row(n, "cold_ls", "cold: start mount + first ls -l tokens", "ls -l tokens",
               "ms", fs_ms, "curl + jq", f"curl -s -H @HEADERFILE URL | jq -r '{JQ_FILTER}'",
               jq_ms, COLD_LS_TARGET if at_target else None,
               f"<= {COLD_LS_TARGET}x" if at_target else "", req, ok, fuse=fuse)


def measure_memory(s: Session, n: int, body_bytes: int) -> list[Row]:
    """Memory: the daemon's peak RSS on a fresh mount after `ls -l tokens`,
    then after reading every file of every token."""
    progress("memory: VmHWM after ls -l, after a full walk")
    s.reset_counts()
    d = s.mount()
    run_walk(["ls", "-l", "tokens"], d.path)
    after_ls = vm_bytes(d.proc.pid, "VmHWM"), vm_bytes(d.proc.pid, "VmRSS")
    run_walk(["find", "tokens", "-type", "f", "-exec", "cat", "{}", "+"], d.path)
    after_walk = vm_bytes(d.proc.pid, "VmHWM"), vm_bytes(d.proc.pid, "VmRSS")
    requests = s.list_requests()
    s.unmount(d)
    ok = requests == 1
    req = f"{requests} for ls -l + walk" + ("" if ok else " (expected 1) MISS")
    at_target = n == TARGET_SIZE
    mib = 1024 * 1024
    rows = []
    for key, what, command, (hwm, rss), limit in (
            ("rss_ls", "after ls -l tokens", "ls -l tokens", after_ls, RSS_LS_TARGET),
            ("rss_walk", "after reading every file", "find tokens -type f -exec cat {} +",
             after_walk, RSS_WALK_TARGET)):
        rows.append(Row(n, key, "memory: daemon VmHWM " + what, command, "MiB", [hwm / mib],
                        "JSON body", "curl ... > BODY", [body_bytes / mib],
                        limit if at_target else None, f"<= {limit:.0f}x" if at_target else "",
                        req, ok, f"VmRSS then: {rss / mib:.1f} MiB"))
    return rows


def measure_warm_walks(s: Session, n: int, reps: int) -> list[Row]:
    """Warm walks: one mount that has fetched, against a tmpfs copy of its
    tokens/.  Each walk runs once untimed on each side, then R times,
    alternating.  With cache_ttl=3600 no walk should send a request."""
    progress("warm walks: copying tokens/ to a tmpfs")
    d = s.mount()
    tmp = s.mount_tmpfs(f"tmpfs.{n}")
    if run_quiet(["cp", "-a", str(d.path / "tokens"), str(tmp)]) != 0:
        raise BenchError("cp -a of the mounted tokens/ to the tmpfs failed")
    if len(os.listdir(tmp / "tokens")) != n:
        raise BenchError("the tmpfs copy does not hold every token")
    rows = []
    for w in walks(n):
        progress(f"warm: {w.text}")
        s.reset_counts()
        fs_ms, tmp_ms, fuse = [], [], []
        for rep in range(reps + 1):
            before = fuse_requests(d.proc.pid)
            a = run_walk(w.argv, d.path)
            after = fuse_requests(d.proc.pid)
            b = run_walk(w.argv, tmp)
            if rep:
                fs_ms.append(a)
                tmp_ms.append(b)
                fuse.append(after - before)
        req, ok = requests_text([s.list_requests()], 0, f"{reps + 1} walks")
        target = WARM_TARGETS.get(w.key)
        limit = target if target and n >= WARM_TARGET_MIN_SIZE else None
        rows.append(Row(n, "warm_" + w.key, "warm: " + w.text, w.text, "ms", fs_ms,
                        "tmpfs", w.text, tmp_ms, limit,
                        f"<= {target}x" if limit else "", req, ok, w.note, fuse))
    s.unmount(d)
    s.unmount_tmpfs(tmp)
    return rows


def measure_cold_walks(s: Session, n: int, reps: int, warm: list[Row]) -> list[Row]:
    """Cold walks: the first walk on a fresh mount, the fetch included,
    against the warm tmpfs median of the same walk.  One mount per repetition."""
    tmpfs_median = {r.key: r.base_median for r in warm}
    rows = []
    for w in (w for w in walks(n) if w.key in ("ls_lR", "find_cat")):
        progress(f"cold: {w.text}")
        fs_ms, counts, fuse = [], [], []
        for _ in range(reps):
            d = s.mount()
            s.reset_counts()
            before = fuse_requests(d.proc.pid)
            fs_ms.append(run_walk(w.argv, d.path))
            fuse.append(fuse_requests(d.proc.pid) - before)
            counts.append(s.list_requests())
            s.unmount(d)
        req, ok = requests_text(counts, 1, "")
        rows.append(Row(n, "cold_" + w.key, "cold: first " + w.text + " after mount",
                        w.text, "ms", fs_ms, "tmpfs warm", w.text,
                        [tmpfs_median["warm_" + w.key]],
                        COLD_WALK_TARGET if n == COLD_TARGET_SIZE else None,
                        f"<= {COLD_WALK_TARGET}x" if n == COLD_TARGET_SIZE else "",
                        req, ok, fuse=fuse))
    return rows


def damon_pageout() -> str:
    """Whether DAMON pages out idle page cache on this machine, and after how
    long: it drops the mount's cached bodies between long walks, and never
    the tmpfs copy's (shmem), so it weighs on the warm ratios at 100,000."""
    root = Path("/sys/kernel/mm/damon/admin/kdamonds")
    found = []
    try:
        for kd in sorted(root.glob("[0-9]*")):
            if (kd / "state").read_text().strip() != "on":
                continue
            for ctx in sorted(kd.glob("contexts/[0-9]*")):
                aggr_us = int((ctx / "monitoring_attrs/intervals/aggr_us").read_text())
                for sc in sorted(ctx.glob("schemes/[0-9]*")):
                    if (sc / "action").read_text().strip() != "pageout":
                        continue
                    age = int((sc / "access_pattern/age/min").read_text()) * aggr_us / 1e6
                    found.append(f"idle {age:.0f} s")
    except (OSError, ValueError):
        return "unknown"
    return "on (" + ", ".join(found) + ")" if found else "off"


def machine(build: Path) -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = subprocess.run([str(build / "synergyfs"), "--version"], capture_output=True,
                              text=True).stdout + subprocess.run(
        ["fusermount3", "--version"], capture_output=True, text=True).stdout
    libfuse = re.search(r"libfuse (\S+)", versions)
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "libfuse": libfuse.group(1) if libfuse else "unknown",
        "synergyfs": versions.splitlines()[0] if versions else "unknown",
        "commit": commit or "unknown",
        "damon_pageout": damon_pageout(),
        "mem_total_mib": int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
                             .group(1)) // 1024,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="scripts/bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Benchmark synergyfs against curl + jq and against a tmpfs copy of the\n"
                    "same tree, at 100, 10,000 and 100,000 tokens from the stand-in server.\n"
                    "Builds an optimized binary in build-bench/ first.  Needs root (it\n"
                    "mounts a tmpfs).  Walks cost one FUSE round trip per directory read and\n"
                    "per file opened and read, so their time grows with N: --quick took 9\n"
                    "minutes on a 2-vCPU VM, and a walk of 100,000 tokens takes minutes.",
        epilog="Prints a table with medians, min-max, ratios and targets (pass/MISS; a miss\n"
               "does not fail the run) and writes it to results/bench-<UTC time>.{csv,json}.\n"
               "Timing: time.perf_counter() around each command; see tests/bench/bench.py.")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="only 100 and 10,000 tokens")
    mode.add_argument("--smoke", action="store_true",
                      help="100 tokens, 1 repetition: checks that the benchmark still works")
    mode.add_argument("--sizes", metavar="N,N", help="these list sizes instead")
    ap.add_argument("--no-walks", action="store_true",
                    help="skip the timed walks and the tmpfs copy: refresh, cold ls -l vs "
                         "curl + jq and memory only (for sizes where a walk takes minutes)")
    ap.add_argument("-o", "--options", metavar="OPTS",
                    help="more mount options for every mount, e.g. cache_ttl=600")
    ap.add_argument("--reps", type=int, metavar="R",
                    help="timed repetitions of each measurement (default 5; 1 with --smoke)")
    ap.add_argument("--out", metavar="DIR", default=str(ROOT / "results"),
                    help="where the CSV and JSON go (default results/)")
    ap.add_argument("--build", metavar="DIR", default=str(ROOT / "build-bench"),
                    help=argparse.SUPPRESS)  # scripts/bench passes its build folder
    args = ap.parse_args(argv)
    if args.smoke:
        args.size_list = [100]
    elif args.quick:
        args.size_list = [100, 10_000]
    elif args.sizes:
        try:
            args.size_list = [int(x.replace("_", "")) for x in args.sizes.split(",")]
        except ValueError:
            ap.error("--sizes takes numbers separated by commas")
    else:
        args.size_list = [100, 10_000, 100_000]
    if any(x < 1 for x in args.size_list):
        ap.error("sizes must be at least 1")
    if args.reps is None:
        args.reps = 1 if args.smoke else 5
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    return args


def shown(path: Path) -> str:
    """path relative to the checkout when it is inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    global MOUNT_OPTS
    args = parse_args(argv)
    if args.options:
        MOUNT_OPTS = f"{MOUNT_OPTS},{args.options}"
    build = Path(args.build)
    if os.geteuid() != 0:
        print("bench: run as root: it mounts a tmpfs for the comparison", file=sys.stderr)
        return 1
    for exe in (build / "synergyfs", build / "tests" / "bench" / "bench_snapshot"):
        if not os.access(exe, os.X_OK):
            print(f"bench: {exe} is missing: run scripts/bench, which builds it", file=sys.stderr)
            return 1

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    meta = machine(build)
    meta.update({
        "started": stamp, "sizes": args.size_list, "reps": args.reps,
        "mode": "smoke" if args.smoke else "quick" if args.quick else "full",
        "timed_walks": not args.no_walks,
        "mount_options": MOUNT_OPTS, "build": "meson --buildtype=release",
        "timing": "own loop: time.perf_counter() around subprocess.run(), output to "
                  "/dev/null; sides alternate per repetition; warm = 1 untimed run first",
    })
    print(f"synergyfs benchmark {stamp}: sizes {', '.join(f'{x:,}' for x in args.size_list)}, "
          f"{args.reps} repetition(s)")
    print(f"machine: {meta['nproc']} CPUs ({meta['cpu']}), {meta['mem_total_mib']} MiB, "
          f"kernel {meta['kernel']}, libfuse {meta['libfuse']}, {meta['synergyfs']} "
          f"({meta['commit']})")
    print(f"page cache: DAMON pageout {meta['damon_pageout']}")
    print(f"timing: {meta['timing']}")

    # Ctrl-C and SIGTERM raise KeyboardInterrupt, so that the finally below
    # unmounts and ends everything either way.  SIGINT is set explicitly: a
    # shell starts background jobs with it ignored.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    session = None
    rows: list[Row] = []
    rc = 0
    try:
        session = Session(build)
        for n in args.size_list:
            rows += measure_size(session, n, args.reps, not args.no_walks)
    except BenchError as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        rc = 1
    except subprocess.CalledProcessError as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        rc = 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        rc = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if session is not None:
            session.close()
    if rc:
        return rc

    meta["seconds"] = round(time.monotonic() - START, 1)
    print()
    print_table(rows)
    misses = [r for r in rows if r.status == "MISS" or r.requests_ok is False]
    judged = [r for r in rows if r.status != "-" or r.requests_ok is not None]
    meta["targets_missed"] = len(misses)
    csv_path, json_path = write_results(rows, meta, Path(args.out), stamp)
    print()
    for line in LEGEND:
        print(line)
    for r in rows:
        if r.note:
            print(f"  {r.size:,} tokens, {r.measurement}: {r.note}")
    print(f"targets: {len(judged) - len(misses)} of {len(judged)} rows met "
          f"(a miss is reported, not a failure)")
    print(f"written: {shown(csv_path)}, {shown(json_path)}")
    print(f"total: {meta['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
