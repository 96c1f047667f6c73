#!/usr/bin/env bash
# Measures the Go program in go/shutdown (the usual net/http graceful
# shutdown) with real signals, and prints every figure the Go chapter
# quotes, as a table.
#
#   scripts/go-figures.sh              # 5 runs of each case
#   scripts/go-figures.sh --runs 3
#
# Needs a Go toolchain (Debian: apt-get install golang-go) and python3,
# which plays the client: raw HTTP/1.1 over sockets on 127.0.0.1, signals
# with os.kill, exit times from a thread blocked in waitpid. Without Go it
# says so and exits 0. The binary is built into a temporary directory and
# removed afterwards. Every wait is bounded; a process that outlives its
# case is killed and the case reported as failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --runs)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "go-figures.sh: --runs needs a positive number" >&2; exit 2; }
      runs=$2; shift 2 ;;
    *) echo "go-figures.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

if ! command -v go >/dev/null; then
  echo "go-figures.sh: no Go toolchain found, nothing measured."
  echo "Install one (Debian: apt-get install golang-go) and run this again."
  exit 0
fi
command -v python3 >/dev/null || { echo "go-figures.sh: python3 is needed as the client" >&2; exit 2; }

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
# GOTOOLCHAIN=local: use the installed Go, never download another.
(cd go/shutdown && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$build/go-shutdown" .)

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "\$ scripts/go-figures.sh --runs $runs"
echo "# $(go version); $(date -u +%Y-%m-%d); $(uname -sm), $(getconf _NPROCESSORS_ONLN) cores${cpu:+ ($cpu)}"

exec python3 - "$build/go-shutdown" "$runs" <<'PYTHON'
import os, re, signal, socket, statistics, subprocess, sys, threading, time

BINARY, RUNS = sys.argv[1], int(sys.argv[2])


class Server:
    """The Go program, started with PORT=0, its log lines timestamped."""

    def __init__(self, shutdown_timeout):
        env = dict(os.environ, PORT="0", HOST="127.0.0.1", SHUTDOWN_TIMEOUT=shutdown_timeout)
        self.proc = subprocess.Popen(
            [BINARY], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)
        self.lines = []  # (monotonic time, line)
        self.changed = threading.Condition()
        self.exit_time = None
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._wait, daemon=True).start()
        line = self.wait_for("server starting", 10)
        self.port = int(re.search(r"addr=127\.0\.0\.1:(\d+)", line).group(1))

    def _read(self):
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.changed.notify_all()

    def _wait(self):
        self.proc.wait()
        with self.changed:
            self.exit_time = time.monotonic()
            self.changed.notify_all()

    def wait_for(self, phrase, limit):
        deadline = time.monotonic() + limit
        with self.changed:
            while True:
                for _, line in self.lines:
                    if phrase in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.exit_time is not None:
                    raise RuntimeError(f"no {phrase!r} line within {limit} s")
                self.changed.wait(left)

    def exited_within(self, limit):
        """The exit time, or None if the process is still running after limit s."""
        deadline = time.monotonic() + limit
        with self.changed:
            while self.exit_time is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)
            return self.exit_time

    def logged(self, phrase):
        return any(phrase in line for _, line in self.lines)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)
        return time.monotonic()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock, limit):
    """Everything the server sends until it closes; (bytes, close time or None)."""
    sock.settimeout(0.05)
    data, deadline = b"", time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, time.monotonic()
        if not chunk:
            return data, time.monotonic()
        data += chunk
    return data, None


def in_background(fn):
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=fn()), daemon=True)
    thread.start()
    return thread, result


def ms(seconds):
    return seconds * 1000


results = {}  # case -> list of dicts


def run(case, fn):
    for _ in range(RUNS):
        try:
            outcome = fn()
        except Exception as err:  # a failed run is reported, not hidden
            outcome = {"failed": str(err)}
        results.setdefault(case, []).append(outcome)


def idle():
    server = Server("10s")
    try:
        time.sleep(0.1)
        sent = server.signal(signal.SIGTERM)
        gone = server.exited_within(5)
        if gone is None:
            raise RuntimeError("still running 5 s after SIGTERM")
        return {"ms": ms(gone - sent), "exit": server.proc.returncode}
    finally:
        server.kill()


def slow_in_flight():
    server = Server("10s")
    try:
        sock = connect(server.port)
        sock.sendall(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        server.wait_for("slow request started", 5)
        sent = server.signal(signal.SIGTERM)
        reply, _ = read_until_closed(sock, 5)
        gone = server.exited_within(5)
        if gone is None:
            raise RuntimeError("still running 5 s after SIGTERM")
        answered = reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"done")
        return {"ms": ms(gone - sent), "exit": server.proc.returncode,
                "note": "200 done" if answered else f"reply {reply[:40]!r}"}
    finally:
        server.kill()


def idle_keep_alive():
    server = Server("10s")
    try:
        sock = connect(server.port)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        reply = b""
        while not reply.endswith(b"ok"):
            reply += sock.recv(4096)
        time.sleep(0.1)
        sent = server.signal(signal.SIGTERM)
        _, closed = read_until_closed(sock, 5)
        gone = server.exited_within(5)
        if gone is None:
            raise RuntimeError("still running 5 s after SIGTERM")
        return {"ms": ms(gone - sent), "exit": server.proc.returncode,
                "note": "connection closed by the server" if closed else "connection left open"}
    finally:
        server.kill()


def half_request(connected_before):
    def case():
        server = Server("10s")
        try:
            sock = connect(server.port)
            connected = time.monotonic()
            sock.sendall(b"GET /hea")
            time.sleep(connected_before)
            sent = server.signal(signal.SIGTERM)
            _, closed = read_until_closed(sock, 15)
            gone = server.exited_within(15)
            if closed is None or gone is None:
                raise RuntimeError("the half request was still held 15 s after SIGTERM")
            return {"ms": ms(gone - sent), "exit": server.proc.returncode,
                    "closed_after_connect_ms": ms(closed - connected),
                    "note": "Shutdown returned an error" if server.logged("shutdown timed out")
                    else "Shutdown returned nil"}
        finally:
            server.kill()
    return case


def deadline_passes():
    server = Server("1s")
    try:
        sock = connect(server.port)
        sock.sendall(b"GET /slow?ms=60000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        server.wait_for("slow request started", 5)
        sent = server.signal(signal.SIGTERM)
        gone = server.exited_within(10)
        if gone is None:
            raise RuntimeError("still running 10 s after SIGTERM")
        reply, _ = read_until_closed(sock, 2)
        timed_out = server.logged("shutdown timed out")
        return {"ms": ms(gone - sent), "exit": server.proc.returncode,
                "note": ("logged 'shutdown timed out'" if timed_out else "no timeout logged")
                + (", empty reply" if not reply else f", reply {reply[:20]!r}")}
    finally:
        server.kill()


def second_signal(first, second, gap):
    """A stuck request, SIGTERM; then a second signal `gap` s after the
    `shutting down` line, or, with gap None, right after the first kill."""
    def case():
        server = Server("30s")
        try:
            sock = connect(server.port)
            sock.sendall(b"GET /slow?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
            server.wait_for("slow request started", 5)
            server.signal(first)
            if gap is not None:
                server.wait_for("shutting down", 5)
                time.sleep(gap)
            sent = server.signal(second)
            gone = server.exited_within(3)
            if gone is None:
                return {"forced": False, "note": "second signal lost: still running 3 s later"}
            return {"forced": server.logged("forced shutdown"), "ms": ms(gone - sent),
                    "exit": server.proc.returncode}
        finally:
            server.kill()
    return case


cases = [
    ("idle, SIGTERM -> exit", idle),
    ("slow request (1 s) in flight, SIGTERM -> exit", slow_in_flight),
    ("idle keep-alive connection, SIGTERM -> exit", idle_keep_alive),
    ("'GET /hea' sent 0.2 s before SIGTERM, 10 s context", half_request(0.2)),
    ("'GET /hea' sent 3 s before SIGTERM, 10 s context", half_request(3.0)),
    ("60 s request, SHUTDOWN_TIMEOUT=1s, SIGTERM -> exit", deadline_passes),
    ("second SIGINT 1 ms after 'shutting down' -> exit", second_signal(signal.SIGINT, signal.SIGINT, 0.001)),
    ("SIGTERM, SIGTERM back to back", second_signal(signal.SIGTERM, signal.SIGTERM, None)),
    ("SIGINT, SIGINT back to back", second_signal(signal.SIGINT, signal.SIGINT, None)),
]
for name, fn in cases:
    run(name, fn)
    print(f"measured: {name}", file=sys.stderr)


def spread(values):
    values = sorted(values)
    return f"{statistics.median(values):.1f} ({values[0]:.1f}-{values[-1]:.1f})"


failed = 0
print(f"{'case':<52} {'runs':>4}  {'signal->exit ms: median (min-max)':<34} {'exit':<8} notes")
for name, _ in cases:
    rows = results[name]
    good = [r for r in rows if "failed" not in r]
    failed += len(rows) - len(good)
    times = [r["ms"] for r in good if "ms" in r]
    exits = sorted({r["exit"] for r in good if "exit" in r})
    notes = []
    closed = [r["closed_after_connect_ms"] for r in good if "closed_after_connect_ms" in r]
    if closed:
        notes.append(f"closed {spread(closed)} ms after connect")
    if any("forced" in r for r in good):
        notes.append(f"forced in {sum(r['forced'] for r in good)} of {len(good)}")
    notes += sorted({r["note"] for r in good if "note" in r})
    notes += [f"FAILED: {r['failed']}" for r in rows if "failed" in r]
    print(f"{name:<52} {len(rows):>4}  {spread(times) if times else '-':<34} "
          f"{','.join(map(str, exits)) or '-':<8} {'; '.join(notes)}")
sys.exit(1 if failed else 0)
PYTHON
