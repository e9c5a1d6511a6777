"""The mount is read-only at the kernel level (MS_RDONLY): nothing a client
writes reaches another reader, root included.

The mount is made without asking for "ro": the daemon mounts read-only by
itself.  Every kind of file and folder is one test case; each tries every
way of writing, as root and, on allow_other mounts, as nobody, and expects
the errno a read-only mount gives (the kernel answers them, so the daemon
never hears of them: its -d log shows no request that writes).

What a read-only mount gives, on Linux 6.x:
  open for writing, O_TRUNC, O_CREAT (new or existing name)   EROFS
      the same on a folder, or through a symlink to one        EISDIR
      (O_CREAT of a new name in a folder: EROFS)
  write(2) on a descriptor opened O_RDONLY                     EBADF
  ftruncate(2) on it                                           EINVAL
  posix_fallocate on it                                        EBADF
  truncate(2)                                                  EROFS (folder: EISDIR)
  mkdir, mknod, symlink, link, rename, unlink, rmdir            EROFS
  setxattr, removexattr, chmod, chown, utime                   EROFS
  mmap(MAP_SHARED, PROT_WRITE) of a descriptor opened O_RDONLY EACCES
The root's own unlink, rmdir and rename act on the folder the mount sits in
(not this filesystem): only the writes into the root are tried there.

The same guarantees hold on a mount with -o manage, and the same tests run
on one ("manage" in their ids).  Such a mount cannot be read-only in the
kernel (mkdir in new/ and rmdir in tokens/ must reach the daemon), so there
the daemon refuses what the kernel lets through, and who refuses decides
the errno (see expected_errnos): an open for writing of a file is still
EROFS for root (and for anyone the daemon answers); another user, on a mount
where the kernel checks the modes (default_permissions), may get EACCES or
EPERM from the kernel first.  Root's rmdir of tokens/1 is not tried there: on
a manage mount that deletes the token (test_manage.py); another user's is,
and must fail with EACCES.
"""

import errno
import json
import mmap
import os
import re
import subprocess
import sys

import pytest

from conftest import is_mounted
from standin import DEFAULT_TOKENS

# What is tried here is refused by the kernel (a read-only mount) before it
# reaches the daemon; the daemon's side (lookups, reads) is what every other
# test runs under valgrind, where these 52 cases alone took 300 s.
pytestmark = pytest.mark.not_under_valgrind("writes the kernel refuses never reach the daemon")

NOBODY = 65534
NEW = "written-by-a-client"  # a name no folder of the mount holds

# Kinds of node.  A symlink is tried as itself where the call does not follow
# it (unlink, rename, link, lsetxattr, lchown, lutimes), else as its target,
# a token's folder.
FILE, DIR, ROOT, LINK = "file", "folder", "root", "symlink"

# kind -> (path relative to the mount, what it is).  "{expiring}" and
# "{expired}" are the first entry of the view, looked up on the mount.
KINDS = {
    "token_file": ("tokens/1/expiry", FILE),
    "token_json": ("tokens/1/token.json", FILE),
    "clock_file": ("tokens/1/days_left", FILE),
    "tokens_json": ("tokens.json", FILE),
    "status": ("status", FILE),
    "metrics": ("metrics.prom", FILE),
    "root": ("", ROOT),
    "tokens_folder": ("tokens", DIR),
    "token_folder": ("tokens/1", DIR),
    "by_name_folder": ("by-name", DIR),
    "expiring_folder": ("expiring", DIR),
    "expired_folder": ("expired", DIR),
    "by_name_link": ("by-name/Teams integ", LINK),
    "expiring_link": ("expiring/{expiring}", LINK),
    "expired_link": ("expired/{expired}", LINK),
}


def _open_close(path, flags):
    os.close(os.open(path, flags, 0o644))


def _with_read_only_fd(path, fn):
    fd = os.open(path, os.O_RDONLY)
    try:
        fn(fd)
    finally:
        os.close(fd)


def _map_shared_writable(fd):
    """The whole file, shared and writable: its pages would be the file's."""
    m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_WRITE | mmap.PROT_READ)
    m.close()


# An open that writes or truncates: a file refuses it, a folder is no file.
OPEN_FOR_WRITING = {FILE: errno.EROFS, DIR: errno.EISDIR, ROOT: errno.EISDIR, LINK: errno.EISDIR}

# Each attempt: name -> (what it does with the node's path p and a new name n
# in the folder it is in, or for a folder in itself; the errno per kind).  A
# kind it is not tried on has no errno.
ATTEMPTS = {
    "open_wronly": (lambda p, n: _open_close(p, os.O_WRONLY), OPEN_FOR_WRITING),
    "open_rdwr": (lambda p, n: _open_close(p, os.O_RDWR), OPEN_FOR_WRITING),
    "open_append": (lambda p, n: _open_close(p, os.O_WRONLY | os.O_APPEND), OPEN_FOR_WRITING),
    "open_rdonly_trunc": (lambda p, n: _open_close(p, os.O_RDONLY | os.O_TRUNC),
                          OPEN_FOR_WRITING),
    "open_wronly_trunc": (lambda p, n: _open_close(p, os.O_WRONLY | os.O_TRUNC),
                          OPEN_FOR_WRITING),
    "open_creat_existing": (lambda p, n: _open_close(p, os.O_WRONLY | os.O_CREAT),
                            OPEN_FOR_WRITING),
    "open_creat_new": (lambda p, n: _open_close(n, os.O_WRONLY | os.O_CREAT),
                       dict.fromkeys((FILE, DIR, ROOT), errno.EROFS)),
    "open_creat_excl_new": (lambda p, n: _open_close(n, os.O_RDONLY | os.O_CREAT | os.O_EXCL),
                            dict.fromkeys((FILE, DIR, ROOT), errno.EROFS)),
    "write": (lambda p, n: _with_read_only_fd(p, lambda fd: os.write(fd, b"x")),
              dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EBADF)),
    "pwrite": (lambda p, n: _with_read_only_fd(p, lambda fd: os.pwrite(fd, b"x", 0)),
               {FILE: errno.EBADF}),
    "ftruncate": (lambda p, n: _with_read_only_fd(p, lambda fd: os.ftruncate(fd, 0)),
                  {FILE: errno.EINVAL}),
    "fallocate": (lambda p, n: _with_read_only_fd(p, lambda fd: os.posix_fallocate(fd, 0, 8)),
                  {FILE: errno.EBADF}),
    "mmap_shared_writable": (lambda p, n: _with_read_only_fd(p, _map_shared_writable),
                             {FILE: errno.EACCES}),
    "truncate": (lambda p, n: os.truncate(p, 0),
                 {FILE: errno.EROFS, DIR: errno.EISDIR, ROOT: errno.EISDIR,
                  LINK: errno.EISDIR}),
    "mkdir_new": (lambda p, n: os.mkdir(n), dict.fromkeys((FILE, DIR, ROOT), errno.EROFS)),
    "mknod_new": (lambda p, n: os.mkfifo(n), dict.fromkeys((FILE, DIR, ROOT), errno.EROFS)),
    "symlink_new": (lambda p, n: os.symlink("tokens", n),
                    dict.fromkeys((FILE, DIR, ROOT), errno.EROFS)),
    "link_new": (lambda p, n: os.link(p, n, follow_symlinks=False),
                 dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EROFS)),
    "rename": (lambda p, n: os.rename(p, n), dict.fromkeys((FILE, DIR, LINK), errno.EROFS)),
    "unlink": (lambda p, n: os.unlink(p), dict.fromkeys((FILE, DIR, LINK), errno.EROFS)),
    "rmdir": (lambda p, n: os.rmdir(p), dict.fromkeys((FILE, DIR, LINK), errno.EROFS)),
    "setxattr": (lambda p, n: os.setxattr(p, "user.note", b"1", follow_symlinks=False),
                 dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EROFS)),
    "removexattr": (lambda p, n: os.removexattr(p, "user.note", follow_symlinks=False),
                    dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EROFS)),
    "chmod": (lambda p, n: os.chmod(p, 0o777), dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EROFS)),
    "chown": (lambda p, n: os.chown(p, NOBODY, NOBODY, follow_symlinks=False),
              dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EROFS)),
    "utime": (lambda p, n: os.utime(p, None, follow_symlinks=False),
              dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EROFS)),
    "utime_past": (lambda p, n: os.utime(p, (0, 0), follow_symlinks=False),
                   dict.fromkeys((FILE, DIR, ROOT, LINK), errno.EROFS)),
}


def attempt_all(path, what, skip=()):
    """Try every way of writing to path (a node of kind what), but those
    named in skip; the errno each gave, 0 if it succeeded."""
    folder = path if what in (DIR, ROOT) else os.path.dirname(path)
    new = os.path.join(folder, NEW)
    got = {}
    for name, (fn, want) in ATTEMPTS.items():
        if what not in want or name in skip:
            continue
        try:
            fn(path, new)
            got[name] = 0
        except OSError as exc:
            got[name] = exc.errno
    return got


def map_private_and_write(path, marker):
    """Map path privately, writable, and write marker over its start (as
    much of it as the file is long): the mapping's own copy changes (a copy
    on write).  The mapping's first bytes after the write, hex (or why the
    mapping failed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        m = mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as exc:
        return f"mmap: {errno.errorcode[exc.errno]}"
    finally:
        os.close(fd)
    with m:
        n = min(len(m), len(marker))
        m[:n] = marker[:n]
        return m[:n].hex()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def as_user(uid, request):
    """Run this file as a program under uid with request (JSON); its answer."""
    out = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                          sys.executable, __file__], input=json.dumps(request),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def child_main():
    """As another user: the attempts on one node (what: its kind, or None
    for none), a private mapping written over (marker, if given), then what a
    new open reads (hex), as JSON on stdout."""
    req = json.load(sys.stdin)
    answer = {"attempts": attempt_all(req["path"], req["what"], req.get("skip", ()))
              if req.get("what") else {}}
    if req.get("marker"):
        answer["mapped"] = map_private_and_write(req["path"], req["marker"].encode())
    if req.get("read"):
        answer["read"] = read(req["path"]).hex()
    json.dump(answer, sys.stdout)
    return 0


# Requests that would change something, by their name in libfuse's -d log.
WRITING_OPCODES = ("SETATTR", "MKNOD", "MKDIR", "UNLINK", "RMDIR", "RENAME", "RENAME2",
                   "SYMLINK", "LINK", "WRITE", "CREATE", "SETXATTR", "REMOVEXATTR",
                   "FALLOCATE", "COPY_FILE_RANGE", "TMPFILE")
OPCODE = re.compile(r"^unique: \d+, opcode: (\w+) ", re.M)


def mount_options(path):
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if fields[1] == str(path):
                return fields[3].split(",")
    raise AssertionError(f"{path} is not in /proc/self/mounts")


# The modes the guarantees are tested in: the options that make them.
MODES = {"plain": (), "manage": ("manage",)}


@pytest.fixture(params=MODES)
def mode(request):
    """Each test of a shared mount runs on a plain mount and on a manage one."""
    return request.param


@pytest.fixture
def shared_mount(server, shared_folder, mounter, mode):
    """shared_mount(*opts) -> a mount in shared_folder, in the test's mode,
    printing its requests (-d).  shared_folder comes first, so that it is
    removed only after mounter has unmounted (and checked) every mount."""
    count = [0]

    def make(*opts):
        count[0] += 1
        # An absolute name puts the mount point outside tmp_path.
        return mounter(server.url, *MODES[mode], *opts,
                       name=str(shared_folder / f"mnt{count[0]}"), extra_args=["-d"])

    return make


# On a manage mount the daemon answers what the kernel of a read-only mount
# refused, and the kernel checks first what it checks on any mount: unlink
# of a folder (EISDIR), rmdir of what is no folder (ENOTDIR), a hard link to
# a folder (EPERM), a user.* attribute on a symlink (EPERM), a folder moved
# into itself (EINVAL).  The daemon may
# say EPERM rather than EROFS to an unlink (as for rm of a by-name/ link),
# may not take extended attributes at all (EOPNOTSUPP; removing a missing
# one may be ENODATA) and may find a folder not empty before it refuses.
FOLDERS = (DIR, ROOT)
MANAGE_ROOT = {
    "unlink": {FILE: {errno.EROFS, errno.EPERM}, LINK: {errno.EROFS, errno.EPERM},
               DIR: {errno.EISDIR}},
    "rmdir": {FILE: {errno.ENOTDIR}, LINK: {errno.ENOTDIR},
              DIR: {errno.EROFS, errno.EPERM, errno.ENOTEMPTY}},
    # A folder moved into itself (the new name is inside it): EINVAL first.
    "rename": {FILE: {errno.EROFS, errno.EPERM}, LINK: {errno.EROFS, errno.EPERM},
               DIR: {errno.EINVAL}},
    "link_new": {FILE: {errno.EROFS, errno.EPERM}, LINK: {errno.EROFS, errno.EPERM},
                 DIR: {errno.EPERM}, ROOT: {errno.EPERM}},
    "setxattr": {k: {errno.EROFS, errno.EPERM, errno.EOPNOTSUPP} for k in (FILE,) + FOLDERS}
    | {LINK: {errno.EPERM}},
    "removexattr": {k: {errno.EROFS, errno.EPERM, errno.EOPNOTSUPP, errno.ENODATA}
                    for k in (FILE,) + FOLDERS} | {LINK: {errno.EPERM}},
}
# What opens a file for writing: EROFS whoever asks the daemon.
WRITE_OPENS = ("open_wronly", "open_rdwr", "open_append", "open_rdonly_trunc",
               "open_wronly_trunc", "open_creat_existing")


def expected_errnos(mode, setup, uid, kind, what):
    """attempt name -> the errnos it may fail with, on a mount of mode and
    setup, tried by uid on a node of kind (what it is)."""
    plain = {name: {e[what]} for name, (_, e) in ATTEMPTS.items() if what in e}
    if mode == "plain":
        return plain
    want = {name: set(MANAGE_ROOT[name][what]) if name in MANAGE_ROOT else errnos
            for name, errnos in plain.items()}
    if uid == 0:
        if kind == "token_folder":
            del want["rmdir"]  # it would delete token 1: test_manage.py does
        return want
    # Another user: the kernel may refuse first by the modes (default
    # permissions), the daemon for not being the mounting user.
    kernel_checks = "no_default_permissions" not in SETUPS[setup][0]
    for name, errnos in want.items():
        if name in WRITE_OPENS and what == FILE and not kernel_checks:
            continue  # the daemon answers the open: EROFS
        if errnos & {errno.EBADF, errno.EINVAL} or (name == "mmap_shared_writable"):
            continue  # the descriptor's mode decides, in the kernel
        errnos |= {errno.EACCES, errno.EPERM}
    if kind == "token_folder":
        want["rmdir"] = {errno.EACCES}  # another user deletes nothing
    return want


# Who tries, on which mount: (mount options, the users who try).
SETUPS = {
    "private": ((), (0,)),
    "allow_other": (("allow_other",), (0, NOBODY)),
    "allow_other_no_default_permissions": (("allow_other", "no_default_permissions"),
                                           (0, NOBODY)),
}


def resolve(m, rel):
    """The node of a KINDS path on mount m."""
    if "{" not in rel:
        return m.p(rel) if rel else m.path
    views = {v: sorted(os.listdir(m.p(v)))[0] for v in ("expiring", "expired")}
    return m.p(rel.format(**views))


# Files whose bodies change by themselves: with the clock, or at each read.
CHANGING = ("status", "metrics.prom", "days_left", "expired", "refresh")


def stable_bodies(m):
    """Every listing, mode, owner and link target of the mount, and what
    every file reads that does not change by itself."""
    seen = {}
    for dirpath, dirs, files in os.walk(m.path):
        rel = os.path.relpath(dirpath, m.path)
        seen[rel + "/"] = sorted(dirs + files)
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.stat(path, follow_symlinks=False)
            seen[os.path.join(rel, name) + " mode"] = (st.st_mode, st.st_uid, st.st_gid)
            if os.path.islink(path):
                seen[os.path.join(rel, name) + " ->"] = os.readlink(path)
            elif name in files and name not in CHANGING:
                seen[os.path.join(rel, name)] = read(path)
    return seen


@pytest.mark.parametrize("setup", SETUPS)
@pytest.mark.parametrize("kind", KINDS)
def test_no_write_reaches_any_reader(server, shared_mount, kind, setup, mode):
    opts, users = SETUPS[setup]
    soon = server.add_token("expires soon", expire_in_days=2)
    m = shared_mount(*opts)
    rel, what = KINDS[kind]
    path = resolve(m, rel)
    if kind == "expiring_link":
        assert os.readlink(path) == f"../tokens/{soon['ID']}"
    before = stable_bodies(m)
    marker = b"\x00written by a client\x00"
    for uid in users:
        want = expected_errnos(mode, setup, uid, kind, what)
        skip = [name for name, (_, e) in ATTEMPTS.items() if what in e and name not in want]
        if uid == 0:
            got = attempt_all(path, what, skip)
            answer = {"mapped": map_private_and_write(path, marker), "read": read(path).hex()} \
                if what == FILE else {}
        else:
            answer = as_user(uid, {"path": str(path), "what": what, "read": what == FILE,
                                   "marker": marker.decode() if what == FILE else None,
                                   "skip": skip})
            got = answer["attempts"]
        wrong = {name: (errno.errorcode.get(got[name], got[name]),
                        sorted(errno.errorcode[e] for e in want[name]))
                 for name in want if got[name] not in want[name]}
        assert not wrong, f"uid {uid}: attempt: (got, wanted): {wrong}"
        if what == FILE:
            # The private mapping took the write; the file did not (the
            # marker's NUL is in no file of the mount).
            assert marker.hex().startswith(answer["mapped"]) and answer["mapped"], \
                answer["mapped"]
            wrote = bytes.fromhex(answer["mapped"])
            assert wrote not in bytes.fromhex(answer["read"]), f"uid {uid} reads the write"
            assert wrote not in read(path), f"root reads uid {uid}'s write"
            if uid == 0 and NOBODY in users:
                other = bytes.fromhex(as_user(NOBODY, {"path": str(path), "read": True})["read"])
                assert wrote not in other, "another user reads root's write"
    # Another open, of every file, as root, sees nothing changed: no new
    # name, no lost one, no changed body, link or mode.
    assert stable_bodies(m) == before
    assert server.count("generate") == 0 and server.count("delete") == 0
    opcodes = set(OPCODE.findall(m.log()))
    assert "LOOKUP" in opcodes  # the log shows the requests
    if mode == "plain":
        # The kernel refused all of it: the daemon heard of no write at all.
        heard = opcodes & set(WRITING_OPCODES)
        assert not heard, f"the daemon received {sorted(heard)}"


@pytest.mark.parametrize("kind", [k for k, (_, what) in KINDS.items() if what == FILE])
def test_a_private_writable_mapping_changes_no_other_reader(server, shared_mount, kind):
    """The mapping is the writer's own copy: another open, by root or by
    another user, reads the file as it was, also while the mapping lives."""
    m = shared_mount("allow_other")
    path = resolve(m, KINDS[kind][0])
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        assert size > 0, "an empty file cannot be mapped"
        mapping = mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    written = b"W" * size
    with mapping:
        original = bytes(mapping)
        mapping[:] = written
        mapping.flush()  # msync of a private mapping: writes nothing back
        assert bytes(mapping) == written
        mine = read(path)
        other = bytes.fromhex(as_user(NOBODY, {"path": str(path), "read": True})["read"])
    for body in (mine, other, read(path)):
        assert written[:16] not in body
        if path.name not in CHANGING:
            assert body == original


@pytest.mark.parametrize("mode", MODES)
def test_the_mount_is_read_only_in_the_kernel(server, mounter, mode):
    """Mounted without "ro", the mount is read-only all the same: the kernel
    (/proc/self/mounts, statvfs) says so, and every file and folder refuses
    to be opened for writing, in a list of some size.  A manage mount cannot
    be read-only in the kernel: there the daemon refuses every open for
    writing, and every new file, new/ included, with the same EROFS."""
    m = mounter(server.url, *MODES[mode])
    if mode == "plain":
        assert "ro" in mount_options(m.path), mount_options(m.path)
        assert "rw" not in mount_options(m.path)
        assert os.statvfs(m.path).f_flag & os.ST_RDONLY
    for dirpath, dirs, files in os.walk(m.path):
        for name in files:
            with pytest.raises(OSError) as exc:
                _open_close(os.path.join(dirpath, name), os.O_WRONLY)
            assert exc.value.errno == errno.EROFS, os.path.join(dirpath, name)
        with pytest.raises(OSError) as exc:
            _open_close(os.path.join(dirpath, NEW), os.O_WRONLY | os.O_CREAT)
        assert exc.value.errno == errno.EROFS, dirpath
    assert sorted(os.listdir(m.p("tokens"))) == sorted(str(t["ID"]) for t in DEFAULT_TOKENS)


if __name__ == "__main__":
    sys.exit(child_main())
