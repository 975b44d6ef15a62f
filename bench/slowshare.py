#!/usr/bin/env python3
"""A slow network share on this machine: sshfs through a delay proxy, on loopback, in a private
network namespace. The benchmark's ``--fs slow`` mounts it (bench/README.md, "Slow share").

    bench/slowshare.py up MOUNT --latency-ms 3       # mount; if it is up already, set the latency
    bench/slowshare.py down MOUNT [--keep-data]      # unmount, stop its processes, delete its state
    bench/slowshare.py status [--json]
    bench/slowshare.py probe MOUNT [--files 300] [--threads 1,16] [--layout spread|samedir]

Needs root, ``sshfs``, ``sshd`` (openssh-server), ``fusermount3`` (fuse3), ``ip`` (iproute2) and
``nsenter``. The path of one request::

    writer -> VFS -> FUSE -> sshfs -> ssh -> 127.0.0.1:2222 delay proxy -> 127.0.0.1:22 sshd
           (host)              (all three in the namespace vod2strm-ss-<id>)     (internal-sftp)
                                                                                  -> backing dir

Why this shape:

- **A real kernel filesystem client.** The code under test goes through the kernel's VFS and
  FUSE, so it meets what it meets on NFS or SMB: the dentry and attribute caches, one round trip
  per uncached lookup, and the parent folder's lock held across a create or a rename (writes into
  one folder queue behind each other whatever the thread count). A Python filesystem that sleeps
  would model all of that, and get it wrong.
- **Latency added in user space.** The kernel here has no ``sch_netem`` (and loads no modules), so
  ``tc qdisc ... netem delay`` is unavailable. The proxy holds every chunk it reads for half the
  round trip before passing it on, in each direction; chunks in flight are pipelined as on a real
  link (ten requests sent together come back one round trip later, not ten).
- **Timers precise to microseconds.** The proxy waits with ``select(2)``, whose timeout is a
  ``timeval``, and sets its timer slack to 1 ns: ``epoll``/``poll`` timeouts are whole
  milliseconds in CPython (rounded up), which would turn a 0.5 ms hop into 1 ms.
- **Immediate ACKs instead of Nagle's wait.** ssh and sshd set ``TCP_NODELAY`` only for tty
  sessions, so each holds a small segment back until the previous one is ACKed. The proxy re-arms
  ``TCP_QUICKACK`` after every read, so those ACKs come back over loopback in microseconds and
  a burst of pipelined SFTP requests is not held for a delayed ACK.
- **A private network namespace.** sshd listens on port 22 of its own loopback, so nothing is
  exposed on the machine, no port needs to be free, and ``down`` finds every process of the share
  with ``ip netns pids``. The processes enter only the network namespace (``nsenter --net``), so
  the FUSE mount sshfs makes is in the machine's own mount namespace, where the benchmark sees it.
- **One SSH connection by default** (``--max-conns``), like one NFS or SMB session.

State (keys, sshd_config, logs, ``state.json``) lives in ``/run/vod2strm-slowshare/<id>/``, where
``<id>`` is derived from the mount path. ``up`` and ``down`` are idempotent; ``up`` first clears
whatever a crashed earlier ``up`` left for the same mount. The mount point must be absent or empty;
``down`` removes it, and the backing folder, when ``up`` created them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import heapq
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

STATE_ROOT = Path("/run/vod2strm-slowshare")
BACKING_ROOT = Path("/var/tmp/vod2strm-slowshare")
NS_PREFIX = "vod2strm-ss-"
PROXY_PORT = 2222
SSHD_PORT = 22
REQUIRED = ("sshfs", "sshd", "ssh-keygen", "fusermount3", "ip", "nsenter")
PROCESSES = ("sshd", "proxy", "sshfs")
PACKAGES = "sshfs openssh-server fuse3 iproute2 util-linux"


def say(msg: str) -> None:
    print(f"slowshare: {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    """A one-line error; exit status 1 (2 for usage)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# -- the delay proxy ------------------------------------------------------------------------------


class _Direction:
    """Bytes read from ``src``, held until due, then written to ``dst``."""

    __slots__ = ("closed", "dst", "out", "pending", "src", "src_open")

    def __init__(self, src: socket.socket, dst: socket.socket):
        self.src, self.dst = src, dst
        self.pending: deque[tuple[float, bytes | None]] = deque()  # (due, data); None = EOF
        self.out = bytearray()  # due, not yet accepted by dst's socket buffer
        self.src_open = True
        self.closed = False  # EOF passed on to dst


class DelayProxy:
    """A TCP forwarder that delays each direction by half the round-trip latency.

    One thread, one ``select`` loop: reads are stamped with their due time and queued per
    direction; a heap orders the directions by their next due time. Order within a direction is
    kept (due times only grow, unless the latency is lowered while bytes are held: then the newer
    bytes wait for the older ones). SIGHUP re-reads the latency from ``latency_file``.
    """

    READ = 256 * 1024
    MAX_HELD = 8 * 1024 * 1024  # stop reading a source while this much is held for its peer

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], latency_file: Path):
        self.target = target
        self.latency_file = latency_file
        self.half = 0.0
        self.reload = True
        self.sel = selectors.SelectSelector()  # select(2): microsecond timeouts (see module doc)
        self.heap: list[tuple[float, int, _Direction]] = []
        self.seq = 0
        self.peers: dict[socket.socket, _Direction] = {}  # src socket -> its direction
        self.writers: dict[socket.socket, _Direction] = {}  # dst socket -> its direction
        self.listener = socket.create_server(listen, reuse_port=False)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ)
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload", True))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def _read_latency(self) -> None:
        self.reload = False
        with contextlib.suppress(OSError, ValueError):
            self.half = float(self.latency_file.read_text().strip()) / 2000.0

    # -- connections

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for s in (client, server):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up, down = _Direction(client, server), _Direction(server, client)
        self.peers[client], self.peers[server] = up, down
        self._watch(client)
        self._watch(server)

    def _watch(self, s: socket.socket) -> None:
        """(Re)register ``s`` for what it waits for: reading its source side, writing its peer."""
        events = 0
        d = self.peers.get(s)
        if d is not None and d.src_open and len(d.out) + _held(d) < self.MAX_HELD:
            events |= selectors.EVENT_READ
        w = self.writers.get(s)
        if w is not None and w.out:
            events |= selectors.EVENT_WRITE
        try:
            key = self.sel.get_key(s)
        except KeyError:
            key = None
        if events and key is None:
            self.sel.register(s, events)
        elif events and key.events != events:
            self.sel.modify(s, events)
        elif not events and key is not None:
            self.sel.unregister(s)

    def _readable(self, s: socket.socket, now: float) -> None:
        d = self.peers[s]
        try:
            data = s.recv(self.READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            # Re-armed after every read: Linux drops quick-ACK mode on its own (see module doc).
            with contextlib.suppress(OSError):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        else:
            d.src_open = False
        due = now + self.half
        if d.pending and d.pending[-1][0] > due:
            due = d.pending[-1][0]  # the latency was lowered: keep the order
        if not d.pending:
            self.seq += 1
            heapq.heappush(self.heap, (due, self.seq, d))
        d.pending.append((due, data or None))
        self._watch(s)

    def _deliver(self, d: _Direction, now: float) -> None:
        while d.pending and d.pending[0][0] <= now:
            _, data = d.pending.popleft()
            if data is None:
                d.closed = True
            else:
                d.out += data
        if d.pending:
            self.seq += 1
            heapq.heappush(self.heap, (d.pending[0][0], self.seq, d))
        self._flush(d)

    def _flush(self, d: _Direction) -> None:
        if d.out:
            try:
                sent = d.dst.send(d.out)
                del d.out[:sent]
            except BlockingIOError:
                pass
            except OSError:
                d.out.clear()
                d.closed = True
        self.writers[d.dst] = d
        if not d.out and d.closed:
            with contextlib.suppress(OSError):
                d.dst.shutdown(socket.SHUT_WR)
            self.writers.pop(d.dst, None)
            self._maybe_close(d)
        self._watch(d.dst)
        self._watch(d.src)

    def _maybe_close(self, d: _Direction) -> None:
        back = self.peers.get(d.dst)
        if back is not None and back.closed and not back.out and d.closed and not d.out:
            for s in (d.src, d.dst):
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(s)
                self.peers.pop(s, None)
                self.writers.pop(s, None)
                s.close()

    # -- the loop

    def serve(self) -> None:
        _tight_timer_slack()
        while True:
            if self.reload:
                self._read_latency()
            timeout = max(0.0, self.heap[0][0] - time.monotonic()) if self.heap else None
            events = self.sel.select(timeout)
            now = time.monotonic()
            for key, mask in events:
                s = key.fileobj
                if s is self.listener:
                    self._accept()
                    continue
                if mask & selectors.EVENT_READ and s in self.peers:
                    self._readable(s, now)
                if mask & selectors.EVENT_WRITE and s in self.writers:
                    self._flush(self.writers[s])
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                _, _, d = heapq.heappop(self.heap)
                if d.src in self.peers or d.pending:
                    self._deliver(d, now)


def _held(d: _Direction) -> int:
    return sum(len(data) for _, data in d.pending if data)


def _tight_timer_slack() -> None:
    """Ask the kernel not to round our timeouts up by its default 50 us (PR_SET_TIMERSLACK)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(29, 1, 0, 0, 0)


# -- state ----------------------------------------------------------------------------------------


def share_id(mount: Path) -> str:
    return hashlib.sha256(str(mount).encode()).hexdigest()[:8]


class Share:
    def __init__(self, mount: Path):
        self.mount = mount
        self.id = share_id(mount)
        self.ns = NS_PREFIX + self.id
        self.dir = STATE_ROOT / self.id
        self.state_file = self.dir / "state.json"

    def state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def save(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_file)

    def mounted(self) -> bool:
        return is_mounted(self.mount)

    def ns_exists(self) -> bool:
        return Path("/run/netns", self.ns).exists()

    def ns_pids(self) -> list[int]:
        if not self.ns_exists():
            return []
        out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split() if p.isdigit()]

    def healthy(self) -> bool:
        st = self.state()
        return bool(st) and self.mounted() and all(_alive(st.get(k)) for k in PROCESSES)

    def in_ns(self, *cmd: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.ns}", *cmd]


def is_mounted(path: Path) -> bool:
    target = os.fsencode(path)
    with open("/proc/self/mountinfo", "rb") as fh:
        for line in fh:
            # The mount point is the 5th field, with space, tab, newline and backslash as \ooo.
            point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), line.split()[4])
            if point == target:
                return True
    return False


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is not alive
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _spawn(cmd: list[str], log: Path) -> int:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc.pid


def _wait(cond, seconds: float, what: str, pid: int | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        if pid is not None and not _alive(pid):
            break
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = ": " + " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise Fail(f"{what} did not come up{tail}")


# -- commands -------------------------------------------------------------------------------------


def check_tools() -> None:
    if os.geteuid() != 0:
        raise Fail("needs root (it creates a network namespace and a FUSE mount)", 2)
    missing = [t for t in REQUIRED if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
    if missing:
        raise Fail(f"missing {', '.join(missing)}: apt-get install -y {PACKAGES}", 2)


def up(mount: Path, latency_ms: float, backing: Path | None, max_conns: int) -> None:
    check_tools()
    share = Share(mount)
    if share.healthy():
        st = share.state()
        if st["latency_ms"] != latency_ms:
            (share.dir / "latency_ms").write_text(f"{latency_ms}\n")
            os.kill(st["proxy"], signal.SIGHUP)
            st["latency_ms"] = latency_ms
            share.save(st)
            say(f"{mount}: latency set to +{latency_ms} ms per round trip")
        else:
            say(f"{mount}: already up at +{latency_ms} ms")
        return
    if share.state() or share.ns_exists() or share.mounted():
        say(f"{mount}: clearing what an earlier run left")
        down(mount, keep_data=False, quiet=True)
    if share.mounted():
        raise Fail(f"{mount} is a mount point of something else; unmount it first", 2)
    made_mount = not mount.exists()
    if not made_mount and (not mount.is_dir() or any(mount.iterdir())):
        raise Fail(f"{mount} must be an empty folder or absent", 2)

    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    share.dir.mkdir(parents=True, exist_ok=True)
    made_backing = backing is None
    backing = (backing or BACKING_ROOT / share.id / "export").resolve()
    if made_backing and backing.exists():
        shutil.rmtree(backing)
    backing.mkdir(parents=True, exist_ok=True)
    mount.mkdir(parents=True, exist_ok=True)
    made_privsep = not Path("/run/sshd").exists()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    st = {
        "mount": str(mount),
        "backing": str(backing),
        "latency_ms": latency_ms,
        "max_conns": max_conns,
        "netns": share.ns,
        "made_mount": made_mount,
        "made_backing": made_backing,
        "made_privsep": made_privsep,
        "started": time.strftime("%F %T"),
    }
    share.save(st)  # from here on, down() can undo whatever follows
    try:
        subprocess.run(["ip", "netns", "add", share.ns], check=True)
        subprocess.run(["ip", "-n", share.ns, "link", "set", "lo", "up"], check=True)
        d = share.dir
        for name in ("host_key", "client_key"):
            keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"slowshare-{share.id}"]
            subprocess.run([*keygen, "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        host_pub = (d / "host_key.pub").read_text().split()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{PROXY_PORT} {host_pub[0]} {host_pub[1]}\n")
        (d / "sshd_config").write_text(
            "\n".join(
                [
                    f"ListenAddress 127.0.0.1:{SSHD_PORT}",
                    f"HostKey {d / 'host_key'}",
                    f"AuthorizedKeysFile {d / 'authorized_keys'}",
                    f"PidFile {d / 'sshd.pid'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "PrintMotd no",
                    "LogLevel ERROR",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        (d / "latency_ms").write_text(f"{latency_ms}\n")

        st["sshd"] = _spawn(share.in_ns(sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")), d / "sshd.log")
        share.save(st)
        _wait(lambda: (d / "sshd.pid").exists(), 10, "sshd", st["sshd"], d / "sshd.log")

        proxy = [sys.executable, "-I", str(Path(__file__).resolve()), "_proxy", share.id]
        st["proxy"] = _spawn(share.in_ns(*proxy), d / "proxy.log")
        share.save(st)
        _wait(lambda: (d / "proxy.ready").exists(), 10, "the delay proxy", st["proxy"], d / "proxy.log")

        sshfs = [
            "sshfs", "-f", "-F", "/dev/null",
            "-o", f"port={PROXY_PORT},IdentityFile={d / 'client_key'},UserKnownHostsFile={d / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes,BatchMode=yes,ServerAliveInterval=15",
            "-o", f"max_conns={max_conns}",
            f"root@127.0.0.1:{backing}", str(mount),
        ]  # fmt: skip
        st["sshfs"] = _spawn(share.in_ns(*sshfs), d / "sshfs.log")
        share.save(st)
        _wait(share.mounted, 20, "the sshfs mount", st["sshfs"], d / "sshfs.log")
    except BaseException:
        down(mount, keep_data=False, quiet=True)
        raise
    say(f"{mount}: up, +{latency_ms} ms per round trip (backing {backing}, namespace {share.ns})")


def down(mount: Path, keep_data: bool, quiet: bool = False) -> None:
    share = Share(mount)
    st = share.state()
    if not st and not share.ns_exists() and not share.mounted():
        if not quiet:
            say(f"{mount}: not up")
        return
    if share.mounted():
        for _ in range(20):
            if subprocess.run(["fusermount3", "-u", str(mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        else:
            say(f"{mount}: busy; detaching it lazily")
            subprocess.run(["fusermount3", "-u", "-z", str(mount)], check=False)
    # Every process in the namespace is one this share started (sshfs, ssh, the proxy, sshd and
    # its per-connection children); the recorded pids cover a namespace that is already gone.
    pids = set(share.ns_pids()) | {p for p in (st.get(k) for k in PROCESSES) if _alive(p)}
    _stop(pids)
    if share.ns_exists():
        subprocess.run(["ip", "netns", "del", share.ns], check=False)
    if st.get("made_backing") and not keep_data:
        shutil.rmtree(Path(st["backing"]).parent, ignore_errors=True)
    if st.get("made_mount"):
        with contextlib.suppress(OSError):
            mount.rmdir()
    shutil.rmtree(share.dir, ignore_errors=True)
    if st.get("made_privsep") and not any(STATE_ROOT.glob("*/state.json")):
        with contextlib.suppress(OSError):
            Path("/run/sshd").rmdir()
    for folder in (STATE_ROOT, BACKING_ROOT):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
    if not quiet:
        kept = f" (data kept in {st['backing']})" if keep_data and st.get("backing") else ""
        say(f"{mount}: down{kept}")


def _stop(pids: set[int]) -> None:
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        pids = {p for p in pids if _alive(p)}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            for pid in list(pids):
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)  # reap our own children (the fast path)
                if not _alive(pid):
                    pids.discard(pid)
            time.sleep(0.05)


def status(as_json: bool) -> int:
    rows = []
    for state_file in sorted(STATE_ROOT.glob("*/state.json")):
        st = json.loads(state_file.read_text())
        share = Share(Path(st["mount"]))
        rows.append(
            {
                "mount": st["mount"],
                "latency_ms": st["latency_ms"],
                "mounted": share.mounted(),
                "netns": share.ns if share.ns_exists() else None,
                "processes": {k: (st.get(k) if _alive(st.get(k)) else None) for k in PROCESSES},
                "backing": st["backing"],
                "healthy": share.healthy(),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print("no slow share is up")
    for r in rows if not as_json else ():
        procs = ", ".join(f"{k} {v or 'gone'}" for k, v in r["processes"].items())
        print(
            f"{r['mount']}: +{r['latency_ms']} ms, {'mounted' if r['mounted'] else 'NOT mounted'}, "
            f"{r['netns'] or 'no namespace'}, {procs}, backing {r['backing']}"
            + ("" if r["healthy"] else "  (broken: run down)")
        )
    return 0


def probe(mount: Path, files: int, threads: list[int], layout: str, size: int) -> None:
    """Time ``files`` create+write+close+rename cycles per thread count, in a fresh folder.

    ``spread``: 10 files per folder, consecutive files in different folders (so threads can work
    in parallel); ``samedir``: every file in one folder. Folders are made before the clock starts.
    """
    if not is_mounted(mount):
        raise Fail(f"{mount} is not mounted", 2)
    data = b"x" * size
    for n in threads:
        base = mount / f".probe-{os.getpid()}-{n}"
        folders = max(1, files // 10) if layout == "spread" else 1
        for i in range(folders):
            (base / f"d{i:04d}").mkdir(parents=True)
        paths = [base / f"d{i % folders:04d}" / f"f{i:05d}.strm" for i in range(files)]

        def one(path: Path) -> None:
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, path)

        started = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(one, paths))
        seconds = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "latency_ms": _latency_of(mount),
                    "layout": layout,
                    "threads": n,
                    "files": files,
                    "seconds": round(seconds, 3),
                    "files_per_s": round(files / seconds, 1),
                    "ms_per_file_per_thread": round(1000 * seconds * n / files, 2),
                }
            ),
            flush=True,
        )
        shutil.rmtree(base)


def _latency_of(mount: Path) -> float | None:
    return Share(mount).state().get("latency_ms")


def _proxy_main(share_id_: str) -> None:
    d = STATE_ROOT / share_id_
    proxy = DelayProxy(("127.0.0.1", PROXY_PORT), ("127.0.0.1", SSHD_PORT), d / "latency_ms")
    (d / "proxy.ready").write_text(f"{os.getpid()}\n")
    proxy.serve()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="mount (or set the latency of) a slow share")
    u.add_argument("mount")
    u.add_argument("--latency-ms", type=float, required=True, help="round-trip time added (0 allowed)")
    u.add_argument("--backing", help="folder that holds the share's files (default: a fresh one)")
    u.add_argument("--max-conns", type=int, default=1, help="SSH connections sshfs opens (default 1)")
    d = sub.add_parser("down", help="unmount, stop its processes, delete its namespace and state")
    d.add_argument("mount")
    d.add_argument("--keep-data", action="store_true", help="keep the backing folder up created")
    s = sub.add_parser("status", help="the slow shares that are up")
    s.add_argument("--json", action="store_true")
    pr = sub.add_parser("probe", help="time small-file create+rename cycles on a mounted share")
    pr.add_argument("mount")
    pr.add_argument("--files", type=int, default=300)
    pr.add_argument("--threads", default="1,16")
    pr.add_argument("--layout", choices=("spread", "samedir"), default="spread")
    pr.add_argument("--size", type=int, default=200, help="bytes per file")
    px = sub.add_parser("_proxy")  # internal: the delay proxy, started by up inside the namespace
    px.add_argument("id")
    opts = p.parse_args(argv)
    try:
        if opts.cmd == "_proxy":
            _proxy_main(opts.id)
        elif opts.cmd == "status":
            return status(opts.json)
        else:
            mount = Path(os.path.abspath(opts.mount))
            if opts.cmd == "up":
                if opts.latency_ms < 0:
                    raise Fail("--latency-ms must be 0 or more", 2)
                backing = Path(opts.backing).resolve() if opts.backing else None
                up(mount, opts.latency_ms, backing, opts.max_conns)
            elif opts.cmd == "down":
                check_tools()
                down(mount, opts.keep_data)
            else:
                probe(mount, opts.files, [int(x) for x in opts.threads.split(",")], opts.layout, opts.size)
    except Fail as exc:
        say(str(exc))
        return exc.code
    except subprocess.CalledProcessError as exc:
        say(f"{' '.join(map(str, exc.cmd))} failed (exit {exc.returncode})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
