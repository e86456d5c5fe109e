"""Scale-out (docs/scale-out.md, DESIGN.md section 6), black-box: a real `redis-server` (AOF, appendfsync always)
on a free loopback port, API nodes (`serve --queue redis://...`, no model) and two `tooncrafter worker`
processes (demo model) sharing an output directory (--storage file://...).

What must hold:
- 20 jobs through one API node and two workers: all COMPLETED, outputs downloadable; /health lists both
  workers and Redis as reachable; /metrics has per-worker series;
- a worker killed with SIGKILL while PROCESSING a job: the other worker takes the job over (after
  --claim-idle) and completes it (attempts 2);
- cancel through the API node reaches the worker process (FAILED "cancelled");
- the API node killed and another started (another port and data dir): status and results still served;
- Redis killed (SIGKILL) and restarted with its AOF while jobs are queued and running: no accepted job is
  lost, all complete;
- with auth (the API node replaced by one with keys), a job that FAILS on a worker (its image URL answers 404)
  is refunded by the API node and its webhook delivered, signed, to a local receiver; its status shows the
  delivery log (server/finisher.h: the after-finish hooks run on API nodes, never on workers).

Requests are small (2 keyframes of 256x256, 1-2 steps). Timeouts only stop hangs (CI runs this under ASan on
2 cores).
"""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tclib  # noqa: E402

tclib.require_binary()
tclib.require_program("redis-server")
tclib.require_program("ffmpeg")

WAIT_S = 1800   # hang guard only
CLAIM_IDLE = "3"
KEYS = []


def payload(**extra):
    p = {"image_1": KEYS[0], "image_2": KEYS[1], "max_width": 256, "max_height": 256, "steps": 1, "seed": 5,
         "output_format": "gif"}
    p.update(extra)
    return p


class ScaleOutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        KEYS[:] = [tclib.keyframe_b64(0), tclib.keyframe_b64(1)]
        cls.tmp = tempfile.mkdtemp(prefix="tc-scale-")
        cls.files = os.path.join(cls.tmp, "files")  # the shared output directory
        os.makedirs(cls.files)
        cls.storage = "file://" + cls.files
        cls.redis = tclib.RedisServer(os.path.join(cls.tmp, "redis"), aof=True).start()
        cls.api = None
        cls.api_count = 0
        cls.start_api()
        cls.workers = {}
        for wid in ("w1", "w2"):
            cls.start_worker(wid)

    @classmethod
    def tearDownClass(cls):
        for w in cls.workers.values():
            w.stop()
        if cls.api:
            cls.api.stop()
        cls.redis.stop()
        if os.environ.get("TC_KEEP_TEST_DIRS"):
            print(f"kept {cls.tmp}")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def start_api(cls):
        cls.api_count += 1
        data = os.path.join(cls.tmp, f"api{cls.api_count}")
        cls.api = tclib.Server(data, "--queue", cls.redis.url, "--storage", cls.storage, "--no-auth").start()

    @classmethod
    def start_worker(cls, wid):
        # Two CPU workers share the test machine: one OpenMP thread each (spinning thread pools of two
        # processes on the same cores would slow both many times over).
        env = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}
        # (--allow-private-fetch: the image URL of test_6 is on a loopback server.)
        cls.workers[wid] = tclib.Worker(cls.tmp, cls.redis.url, cls.storage, wid, "--model", "demo",
                                        "--claim-idle", CLAIM_IDLE, "--heartbeat", "0.5",
                                        "--allow-private-fetch", "127.0.0.1/32", env=env).start()

    # ---- helpers ---------------------------------------------------------------------------------------------

    def tearDown(self):
        print(f"--- API node log tail ({self.id()}) ---\n{self.api.log_tail(15)}", flush=True)
        for wid, w in self.workers.items():
            print(f"--- worker {wid} log tail ---\n{w.log_tail(8)}", flush=True)

    def submit(self, **extra):
        code, _, raw = tclib.http("POST", self.api.url + "/v2/tooncrafter", payload(**extra))
        self.assertEqual(code, 200, raw[:300])
        return json.loads(raw)["request_id"]

    def status(self, rid, tolerate_unavailable=False):
        code, _, raw = tclib.http("GET", f"{self.api.url}/v2/requests/{rid}/status", timeout=30)
        if tolerate_unavailable and code == 503:
            return None
        self.assertIn(code, (200, 422), raw[:300])
        return json.loads(raw)

    def wait_finished(self, rids, tolerate_unavailable=False):
        """{id: final status body}; a 404 fails at once (an accepted job must never vanish)."""
        deadline = time.monotonic() + WAIT_S
        done = {}
        while len(done) < len(rids):
            self.assertLess(time.monotonic(), deadline, f"unfinished after {WAIT_S} s: {set(rids) - set(done)}")
            for rid in rids:
                if rid in done:
                    continue
                s = self.status(rid, tolerate_unavailable)
                if s and s["status"] in tclib.TERMINAL_STATES:
                    done[rid] = s
            time.sleep(0.3)
        return done

    def health(self):
        code, _, raw = tclib.http("GET", self.api.url + "/health")
        return code, json.loads(raw)

    def assert_result_served(self, rid):
        code, _, raw = tclib.http("GET", f"{self.api.url}/v2/requests/{rid}")
        self.assertEqual(code, 200, raw[:300])
        body = json.loads(raw)
        self.assertEqual(body["status"], "COMPLETED")
        self.assertTrue(body["output"].startswith(self.api.url + "/files/"), body["output"])
        code, hdrs, data = tclib.http("GET", body["output"])
        self.assertEqual(code, 200)
        self.assertTrue(data.startswith(b"GIF8"), data[:8])

    # ---- tests (run in name order on one cluster) -------------------------------------------------------------

    def test_1_twenty_jobs_on_two_workers(self):
        code, h = self.health()
        self.assertEqual(code, 200, h)
        self.assertTrue(h["queue"]["reachable"])
        self.assertEqual(sorted(w["id"] for w in h["worker_list"]), ["w1", "w2"])
        rids = [self.submit(seed=i) for i in range(20)]
        self.assertEqual(len(set(rids)), 20)
        # Queue positions come from the stream: distinct among the jobs still queued.
        positions = [self.status(r).get("queue_position") for r in rids]
        queued = [p for p in positions if p is not None]
        self.assertEqual(len(queued), len(set(queued)), positions)
        done = self.wait_finished(rids)
        bad = {r: s for r, s in done.items() if s["status"] != "COMPLETED"}
        self.assertEqual(bad, {})
        for rid in rids[:3] + rids[-2:]:
            self.assert_result_served(rid)
        # Per-worker counters come from the heartbeats, which trail the jobs by up to one heartbeat period: wait
        # for the one that counts the last job (the deadline only stops a hang).
        deadline = time.monotonic() + 120
        while True:
            code, _, raw = tclib.http("GET", self.api.url + "/metrics")
            self.assertEqual(code, 200)
            text = raw.decode()
            completed = sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                            if line.startswith("tooncrafter_remote_worker_jobs_total") and 'result="completed"' in line)
            if completed >= 20 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertIn('tooncrafter_remote_worker_jobs_total{worker="w1",result="completed"}', text)
        self.assertIn('tooncrafter_remote_worker_jobs_total{worker="w2",result="completed"}', text)
        self.assertIn("tooncrafter_workers_live 2", text)
        self.assertGreaterEqual(completed, 20)

    def test_2_killed_worker_job_completes_on_the_other(self):
        # A job with two steps; find the worker running it from the heartbeats, SIGKILL that worker.
        victim = rid = None
        for _ in range(5):
            rid = self.submit(steps=2, seed=100)
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                _, h = self.health()
                running = [w["id"] for w in h.get("worker_list", []) if w.get("job") == rid]
                if running:
                    victim = running[0]
                    break
                if self.status(rid)["status"] in tclib.TERMINAL_STATES:
                    break  # finished before we saw it running: try another
                time.sleep(0.05)
            if victim:
                break
        self.assertIsNotNone(victim, "never saw a worker running the job")
        self.workers[victim].kill()
        s = self.wait_finished([rid])[rid]
        self.assertEqual(s["status"], "COMPLETED", s)
        if s["metrics"]["attempts"] == 1:
            # The kill landed after the job's result was recorded: nothing to take over (rare).
            self.skipTest("the job finished before the worker died")
        self.assertEqual(s["metrics"]["attempts"], 2, s)
        self.assert_result_served(rid)
        self.start_worker(victim)  # two workers again for the next tests

    def test_3_cancel_reaches_the_worker(self):
        rid = self.submit(steps=6, seed=200)
        deadline = time.monotonic() + WAIT_S
        while self.status(rid)["status"] == "QUEUED":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        code, _, raw = tclib.http("POST", f"{self.api.url}/v2/requests/{rid}/cancel")
        self.assertIn(code, (200, 422), raw[:300])
        s = self.wait_finished([rid])[rid]
        if s["status"] == "COMPLETED":
            self.skipTest("the job completed before the cancel arrived")
        self.assertEqual(s["status"], "FAILED")
        self.assertEqual(s["error"], "cancelled")

    def test_4_api_node_replaced(self):
        rids = [self.submit(seed=300 + i) for i in range(2)]
        self.wait_finished(rids)
        queued = self.submit(seed=310)  # maybe still queued or running when the node dies
        self.api.kill()
        type(self).start_api()
        done = self.wait_finished(rids + [queued])
        for rid in rids + [queued]:
            self.assertEqual(done[rid]["status"], "COMPLETED", done[rid])
            self.assert_result_served(rid)

    def test_5_redis_restart_loses_no_accepted_job(self):
        rids = [self.submit(steps=2, seed=400 + i) for i in range(6)]
        # Wait until one runs, so the restart hits queued and running jobs alike.
        deadline = time.monotonic() + WAIT_S
        while not any(self.status(r)["status"] != "QUEUED" for r in rids):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.redis.kill()
        code, h = self.health()
        self.assertEqual(code, 503, h)
        self.assertFalse(h["queue"]["reachable"])
        time.sleep(1)
        self.redis.start()
        done = self.wait_finished(rids, tolerate_unavailable=True)
        for rid in rids:
            self.assertEqual(done[rid]["status"], "COMPLETED", done[rid])
            self.assert_result_served(rid)
        code, h = self.health()
        self.assertEqual(code, 200, h)

    def test_6_failed_on_a_worker_refunded_and_webhook_delivered_by_the_api_node(self):
        images = tclib.StaticHttpServer()  # every path answers 404
        rx = tclib.WebhookReceiver(fail_first=0)
        try:
            # The last test: the API node is replaced by one with API keys. Keys of API nodes over --queue live
            # where `tooncrafter keys --queue` (or TOONCRAFTER_QUEUE) puts them; tclib's helpers run `keys` with
            # that variable set, so they reach the same store as the node whichever way it keeps them.
            self.api.stop()
            data = os.path.join(self.tmp, "api-auth")
            os.makedirs(data, exist_ok=True)
            with queue_env(self.redis.url):
                key = tclib.create_key(data, name="scale-refund", credits=10)
            type(self).api = tclib.Server(data, "--queue", self.redis.url, "--storage", self.storage,
                                          "--allow-private-fetch", "127.0.0.1/32").start()
            hdr = {"x-api-key": key}
            code, h, raw = tclib.http("POST", self.api.url + "/v2/tooncrafter",
                                      payload(image_2=images.url + "/gone.png", webhook=rx.url + "/hook"), headers=hdr)
            self.assertEqual(code, 200, raw[:300])
            self.assertEqual(h.get("x-remaining-credits"), "9")  # 2 keyframes: 1 credit
            rid = json.loads(raw)["request_id"]
            _, st = tclib.wait_status(f"{self.api.url}/v2/requests/{rid}/status", headers=hdr, timeout=WAIT_S)
            self.assertEqual(st["status"], "FAILED", st)
            self.assertEqual(st["error"], "image_2: fetching the URL returned HTTP 404")
            # Refunded by the API node (the worker that failed it has no key store).
            deadline = time.monotonic() + WAIT_S
            while True:
                with queue_env(self.redis.url):
                    credits = tclib.key_credits(data)["scale-refund"]
                if credits == 10:
                    break
                self.assertLess(time.monotonic(), deadline, f"not refunded: {credits} credits")
                time.sleep(0.2)
            hits = rx.wait_hits(1, timeout=WAIT_S)
            self.assertEqual(len(hits), 1, hits)
            headers, body = hits[0]
            self.assertEqual(headers["webhook-id"], "msg_" + rid)
            self.assertEqual(headers["webhook-event"], "request.failed")
            self.assertRegex(headers["webhook-signature"], r"^v1,[A-Za-z0-9+/]{43}=$")  # HMAC-SHA256, base64
            self.assertRegex(headers["webhook-timestamp"], r"^\d+$")
            doc = json.loads(body)
            self.assertEqual(doc["type"], "request.failed")
            self.assertEqual(doc["data"]["request_id"], rid)
            self.assertEqual(doc["data"]["error"], st["error"])
            # The delivery log in the status.
            deadline = time.monotonic() + WAIT_S
            while True:
                w = tclib.wait_status(f"{self.api.url}/v2/requests/{rid}/status", headers=hdr)[1].get("webhook", {})
                if w.get("state") != "pending":
                    break
                self.assertLess(time.monotonic(), deadline, w)
                time.sleep(0.1)
            self.assertEqual(w["state"], "delivered", w)
            self.assertEqual(len(w["deliveries"]), 1, w)
            self.assertEqual(w["deliveries"][0]["http_status"], 200)
            self.assertEqual(w["url_host"], f"127.0.0.1:{rx.port}")
        finally:
            images.close()
            rx.close()


class queue_env:
    """TOONCRAFTER_QUEUE set for the `tooncrafter keys` runs inside the block (helpers pass os.environ on)."""

    def __init__(self, url):
        self.url = url

    def __enter__(self):
        self.old = os.environ.get("TOONCRAFTER_QUEUE")
        os.environ["TOONCRAFTER_QUEUE"] = self.url

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("TOONCRAFTER_QUEUE", None)
        else:
            os.environ["TOONCRAFTER_QUEUE"] = self.old


if __name__ == "__main__":
    tclib.main()
