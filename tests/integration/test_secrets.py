"""The bearer token in the daemon's memory: exactly one copy, where the HTTP
client needs it, in a page kept out of core dumps; none of a rotated token.

The daemon's memory is read through /proc/PID/maps and /proc/PID/mem (the
tests run as root, which may read it although the daemon made itself
undumpable)."""

import os
import secrets
import signal

from conftest import SANITIZERS

# Mappings not worth reading: the kernel's, and sanitizers' shadow memory
# (terabytes reserved, never holding a copy of anything).
SKIPPED = ("[vvar]", "[vvar_vclock]", "[vsyscall]")
LARGEST_REGION = 1 << 30
CHUNK = 16 << 20


def readable_regions(pid):
    """(start, end, name) of each readable mapping of pid."""
    with open(f"/proc/{pid}/maps", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if "r" in fields[1] and name not in SKIPPED and end - start <= LARGEST_REGION:
                yield start, end, name


def copies_in_memory(pid, secret):
    """The addresses in pid's memory where the bytes of secret are."""
    needle = secret.encode()
    found = set()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end, _name in readable_regions(pid):
            # Chunks overlap by len(needle) - 1 so that no copy straddles two.
            pos = start
            while pos < end:
                size = min(CHUNK + len(needle) - 1, end - pos)
                try:
                    mem.seek(pos)
                    data = mem.read(size)
                except OSError:
                    break  # a mapping the kernel will not let be read (e.g. a device's)
                i = data.find(needle)
                while i >= 0:
                    found.add(pos + i)
                    i = data.find(needle, i + 1)
                pos += CHUNK
    return sorted(found)


def vm_flags(pid, address):
    """The VmFlags of the mapping of pid that holds address."""
    inside = False
    with open(f"/proc/{pid}/smaps", encoding="utf-8") as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and ":" not in first:
                start, end = (int(x, 16) for x in first.split("-"))
                inside = start <= address < end
            elif inside and line.startswith("VmFlags:"):
                return line.split()[1:]
    raise AssertionError(f"no mapping of {pid} holds {address:#x}")


def may_lock_memory():
    """Does this process (and so the daemon it starts) have CAP_IPC_LOCK?"""
    with open("/proc/self/status", encoding="ascii") as f:
        caps = next(int(l.split()[1], 16) for l in f if l.startswith("CapEff:"))
    return bool(caps & (1 << 14))


def fetch_several_ways(m):
    """Fetches of the list: reads of the mount and synergyfs --refresh."""
    for _ in range(3):
        assert "1" in os.listdir(m.p("tokens"))
        assert m.p("tokens", "1", "name").read_text() == "Teams integ\n"
        m.refreshed()


def test_one_copy_of_the_token_in_memory_and_none_of_a_rotated_one(
        server, mounter, token_file, token):
    m = mounter(server.url, "cache_ttl=3600")
    pid = m.proc.pid
    fetch_several_ways(m)
    assert server.count("list") >= 3
    assert server.auth_headers[-1] == f"Bearer {token}"

    # Zero would mean the scan is broken, not that the token is safe.
    copies = copies_in_memory(pid, token)
    assert len(copies) == 1, [hex(a) for a in copies]
    flags = vm_flags(pid, copies[0])
    assert "dd" in flags, flags  # MADV_DONTDUMP: not in a core dump
    # mlock (never swapped out) is best effort; sanitizers make it a no-op.
    if may_lock_memory() and SANITIZERS == "none":
        assert "lo" in flags, flags

    # Rotation: the old token is wiped everywhere; the new one has one copy.
    new = "tok-" + secrets.token_urlsafe(24)
    server.set_token(new)
    token_file.write_text(new + "\n")
    m.proc.send_signal(signal.SIGHUP)
    m.wait_log("token read again")
    m.refreshed()
    assert server.auth_headers[-1] == f"Bearer {new}"
    assert copies_in_memory(pid, token) == []
    copies = copies_in_memory(pid, new)
    assert len(copies) == 1, [hex(a) for a in copies]
    assert "dd" in vm_flags(pid, copies[0])
