"""Shared helpers of the Python suites (tests/python/test_*.py): they drive the real `tooncrafter` binary.

ctest runs each suite through scripts/run-py-test.sh with these environment variables (CMakeLists.txt):
TC_BINARY (the CLI), TC_SOURCE_DIR, TC_BUILD_DIR, TC_SHARED_DIR, TC_TEST_VENV. A suite that lacks something it
needs calls skip(reason): exit code 77, which ctest reports as skipped (never as passed).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BINARY = os.environ.get("TC_BINARY", "")
SOURCE_DIR = os.environ.get("TC_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
BUILD_DIR = os.environ.get("TC_BUILD_DIR", "")
SHARED_DIR = os.environ.get("TC_SHARED_DIR", "")

SKIP_EXIT = 77


def skip(reason):
    print(f"skipped: {reason}", flush=True)
    sys.exit(SKIP_EXIT)


def require_binary():
    if not BINARY or not os.access(BINARY, os.X_OK):
        skip(f"TC_BINARY ({BINARY!r}) is not an executable")


def require_program(name):
    path = shutil.which(name)
    if not path:
        skip(f"{name} is not installed (scripts/install-deps.sh installs it)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=60):
    """One request; returns (status, headers dict (lower-case names), body bytes). Never raises on HTTP codes."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class Server:
    """`tooncrafter serve` in a child process on 127.0.0.1 and a free port, logs in `<data_dir>/server.log`.

    Server(data_dir, "--model", "demo", "--no-auth").start() ... .stop() (SIGTERM) or .kill() (SIGKILL)."""

    def __init__(self, data_dir, *args, port=None, env=None):
        require_binary()
        self.data_dir = data_dir
        self.args = list(args)
        self.port = port or free_port()
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = os.path.join(data_dir, "server.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout=300):
        os.makedirs(self.data_dir, exist_ok=True)
        cmd = [BINARY, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.data_dir]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd + self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout):
        """Until GET /health answers 200 (model loaded); raises with the log's tail on exit or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _, _ = http("GET", self.url + "/health", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self):
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def create_key(data_dir, name="test", credits=1000):
    """`tooncrafter keys create` on the data directory; returns the key (printed alone on stdout)."""
    require_binary()
    out = subprocess.run([BINARY, "keys", "create", "--name", name, "--credits", str(credits), "--data-dir",
                          data_dir], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def keyframe_b64(index, size=256):
    """A small synthetic keyframe (PNG, base64) drawn by ffmpeg's test source: different per index."""
    ffmpeg = require_program("ffmpeg")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.png")
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}x{size}:rate=1:duration=1", "-vf", f"hue=h={index * 90}",
                        "-frames:v", "1", path], check=True)
        import base64
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()


def ffprobe(path):
    """ffprobe's JSON for the first video stream and the format."""
    out = subprocess.run([require_program("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams",
                          "-show_format", "-count_frames", path], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    """unittest.main() that keeps skip() (SystemExit 77) as the process's exit code."""
    unittest.main(verbosity=2)


# ---- additions for the SDK and crash-recovery suites (H2) ---------------------------------------------------

TERMINAL_STATES = ("COMPLETED", "FAILED")


def wait_status(status_url, states=TERMINAL_STATES, headers=None, timeout=1800, interval=0.3):
    """Polls a v2 status URL until its `status` is one of `states`; returns (http status, body dict).
    Raises AssertionError on a 404 or other unexpected code, and on timeout (a hang guard, not a timing test)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        code, _, raw = http("GET", status_url, headers=headers, timeout=30)
        if code not in (200, 422):
            raise AssertionError(f"GET {status_url}: HTTP {code} {raw[:300]!r}")
        last = json.loads(raw)
        if last.get("status") in states:
            return code, last
        time.sleep(interval)
    raise AssertionError(f"{status_url} did not reach {states} within {timeout} s (last: {last})")


def key_credits(data_dir):
    """{key name: credits} from `tooncrafter keys list --json` on the data directory (the server may be running
    or not: the key store is SQLite). Give keys distinct names (create_key(name=...)) to tell them apart."""
    require_binary()
    out = subprocess.run([BINARY, "keys", "list", "--json", "--data-dir", data_dir], check=True,
                         capture_output=True, text=True)
    return {k["name"]: k["credits"] for k in json.loads(out.stdout)}


class LoopbackHttpServer:
    """A ThreadingHTTPServer on 127.0.0.1 and a free port, served by a daemon thread; `handler` is its
    BaseHTTPRequestHandler class. Base of the test servers below."""

    def __init__(self, handler):
        import http.server
        import threading
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class StaticHttpServer(LoopbackHttpServer):
    """A loopback HTTP server (a thread) serving `files` ({path: bytes}); every other path answers 404.
    For image-URL tests: the tooncrafter server must run with --allow-private-fetch 127.0.0.1/32."""

    def __init__(self, files=None):
        import http.server
        served = dict(files or {})

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = served.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "image/png" if body is not None else "text/plain")
                body = body if body is not None else b"not found"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(Handler)


# ---- additions for the scale-out suite (H4): a real redis-server and `tooncrafter worker` processes -------------

class RedisServer:
    """`redis-server` on 127.0.0.1 and a free port, data in `dir` (AOF with appendfsync always when aof=True, so
    every acknowledged write survives a SIGKILL). start() waits for PING; kill() is SIGKILL; start() again reuses
    the port and the directory (a restart)."""

    def __init__(self, dir, aof=True, port=None):
        self.bin = require_program("redis-server")
        self.dir = dir
        self.aof = aof
        self.port = port or free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout=60):
        os.makedirs(self.dir, exist_ok=True)
        args = [self.bin, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir,
                "--protected-mode", "no", "--logfile", os.path.join(self.dir, "redis.log")]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not answering on port {self.port} after {timeout} s")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Worker:
    """`tooncrafter worker --queue URL --storage URL --worker-id ID ...` in a child process, logs in
    `<data_dir>/worker-<id>.log`. start() waits for the line saying it claims jobs; kill() is SIGKILL."""

    def __init__(self, data_dir, queue, storage, worker_id, *args, env=None):
        require_binary()
        self.data_dir = data_dir
        self.queue = queue
        self.storage = storage
        self.worker_id = worker_id
        self.args = list(args)
        # Several workers share the machine's cores: one OpenMP thread each, or their spinning threads
        # oversubscribe the CPU (a 2-core run of two 2-thread workers was several times slower).
        env = dict({"OMP_NUM_THREADS": "1"}, **(env or {}))
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log = None
        self.log_path = os.path.join(data_dir, f"worker-{worker_id}.log")

    def start(self, ready_timeout=300):
        os.makedirs(self.data_dir, exist_ok=True)
        cmd = [BINARY, "worker", "--queue", self.queue, "--storage", self.storage, "--worker-id", self.worker_id,
               "--data-dir", os.path.join(self.data_dir, f"scratch-{self.worker_id}")]
        self.log = open(self.log_path, "ab")
        start_at = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(cmd + self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(start_at)
                if b"claiming jobs from" in f.read():
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {ready_timeout} s:\n{self.log_tail()}")

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()

    def _close(self):
        if self.log:
            self.log.close()
            self.log = None


# ---- additions for the after-finish hook suites (helper A): a webhook receiver ----------------------------------

class WebhookReceiver(LoopbackHttpServer):
    """A loopback HTTP server (a thread) that records every POST (headers with lower-case names, body) and
    answers 500 to the first `fail_first` of them, then 200. The tooncrafter server must run with
    --allow-private-fetch 127.0.0.1/32 to reach it. url + "/hook" is a webhook URL."""

    def __init__(self, fail_first=0):
        import http.server
        import threading
        self.fail_first = fail_first
        self._hits = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with receiver._lock:
                    receiver._hits.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = 500 if len(receiver._hits) <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(Handler)

    def hits(self):
        """[(headers, body bytes)] in arrival order."""
        with self._lock:
            return list(self._hits)

    def wait_hits(self, n, timeout=600):
        """Until at least n deliveries arrived (the timeout only stops a hang); returns hits()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.hits()) < n:
            time.sleep(0.05)
        return self.hits()


def verify_webhook_signature(secret, headers, body):
    """True when headers carry a Standard Webhooks signature of body under secret ("whsec_" + base64 = those
    bytes, else the raw string)."""
    import base64
    import hashlib
    import hmac
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split(" "))
