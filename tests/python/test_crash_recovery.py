"""Crash recovery of `tooncrafter serve` (DESIGN.md section 6: "nothing accepted is ever silently lost"),
black-box: the server is killed with SIGKILL (no chance to clean up) and started again on the same data dir.

What must hold after the restart:
- every accepted request reaches COMPLETED or FAILED (with an `error` that says why); none stays QUEUED or
  PROCESSING, none answers 404; a request that was PROCESSING at the kill runs again from the start;
- credits: charged at submit, kept for COMPLETED, refunded for FAILED (also for failures decided by the
  recovery itself), never charged twice;
- a job that is PROCESSING at every kill (a request that crashes the process, say) is FAILED after
  --max-attempts claims, with an error that says so, instead of crash-looping the server;
- a synchronous v1 request whose connection died with the server is not lost either: it is re-queued like any
  other accepted job. The client saw only a connection error and has no request id, so the way back is the
  one every retrying client should use anyway: the same Idempotency-Key with the same body. The retry
  (v1 or v2) replays the original job: the result of the re-run, no second charge.

- webhook retries pending at a kill resume after the restart: a receiver that fails twice, then accepts; the
  server is killed after the first failed attempt; the next start makes attempts 2 and 3 (the same webhook-id,
  signed) and the status lists all three (the delivery log lives in the job store, not in the process).

Requests are small (2 keyframes of 256x256, 1-2 steps). Timeouts only stop hangs (CI runs this under ASan).
"""
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tclib  # noqa: E402

tclib.require_binary()
tclib.require_program("ffmpeg")
tclib.require_program("ffprobe")

WAIT_S = 1800  # hang guard only
CREDITS = 100
PRICE = 1      # 2 keyframes = 1 segment = 1 credit (server/auth.cpp request_price)
KEYS = []


def payload(**extra):
    p = {"image_1": KEYS[0], "image_2": KEYS[1], "max_width": 256, "max_height": 256, "steps": 2, "seed": 3}
    p.update(extra)
    return p


class CrashRecoveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        KEYS[:] = [tclib.keyframe_b64(0), tclib.keyframe_b64(1)]
        cls.tmp = tempfile.mkdtemp(prefix="tc-crash-")
        cls.files = tclib.StaticHttpServer()  # every path 404s: a request that fails in the worker

    @classmethod
    def tearDownClass(cls):
        cls.files.close()
        if os.environ.get("TC_KEEP_TEST_DIRS"):
            print(f"kept {cls.tmp}")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers -------------------------------------------------------------------------------------------

    def setUp(self):
        self.data = os.path.join(self.tmp, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.data)
        self.key = tclib.create_key(self.data, name="crash", credits=CREDITS)
        self.hdr = {"x-api-key": self.key}
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        if self.servers:
            print(f"--- server log tail ({self.id()}) ---\n{self.servers[-1].log_tail(30)}", flush=True)

    def start_server(self, *extra, port=None):
        s = tclib.Server(self.data, "--model", "demo", "--allow-private-fetch", "127.0.0.1/32", *extra, port=port)
        self.servers.append(s)
        return s.start()

    def credits(self):
        return tclib.key_credits(self.data)["crash"]

    def wait_credits(self, expected, timeout=WAIT_S):
        """Refunds are after-finish hooks (server/finisher.h), run just after the job finished: wait for them."""
        deadline = time.monotonic() + timeout
        while self.credits() != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.credits()

    def submit(self, server, body, headers=None):
        code, h, raw = tclib.http("POST", server.url + "/v2/tooncrafter", body, headers={**self.hdr, **(headers or {})})
        self.assertEqual(code, 200, raw)
        return json.loads(raw)

    def status(self, server, rid):
        code, _, raw = tclib.http("GET", f"{server.url}/v2/requests/{rid}/status", headers=self.hdr)
        self.assertIn(code, (200, 422), f"{rid}: HTTP {code} {raw[:200]!r}")
        return json.loads(raw)

    def wait_processing(self, server, rid):
        """Until the job has been claimed and is in the engine (past 'prepare' if it gets there)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            s = self.status(server, rid)
            self.assertNotIn(s["status"], tclib.TERMINAL_STATES, f"{rid} finished before the kill: {s}")
            if s["status"] == "PROCESSING" and s.get("progress", {}).get("stage") not in (None, "", "prepare"):
                return s
            time.sleep(0.1)
        self.fail(f"{rid} never got to PROCESSING")

    def wait_final(self, server, rid):
        _, body = tclib.wait_status(f"{server.url}/v2/requests/{rid}/status", headers=self.hdr, timeout=WAIT_S)
        return body

    def assert_video(self, server, body):
        self.assertEqual(body["status"], "COMPLETED", body)
        code, _, data = tclib.http("GET", body["output"], timeout=120)
        self.assertEqual(code, 200)
        path = os.path.join(self.data, "out.mp4")
        with open(path, "wb") as f:
            f.write(data)
        v = [s for s in tclib.ffprobe(path)["streams"] if s.get("codec_type") == "video"][0]
        self.assertEqual((v["codec_name"], v["width"], v["height"]), ("h264", 256, 256))
        self.assertEqual(int(v["nb_read_frames"]), 16)

    # ---- scenarios -----------------------------------------------------------------------------------------

    def test_kill_during_processing_every_job_finishes(self):
        s1 = self.start_server()
        a = self.submit(s1, payload(seed=1))                                         # PROCESSING at the kill
        b = self.submit(s1, payload(seed=2, image_2=self.files.url + "/gone.png"))    # QUEUED; fails after restart
        c = self.submit(s1, payload(seed=3))                                         # cancelled before the kill
        code, _, raw = tclib.http("POST", c["cancel_url"], headers=self.hdr)
        self.assertEqual(code, 422, raw)  # a queued job is FAILED "cancelled" at once
        self.wait_processing(s1, a["request_id"])
        self.assertEqual(self.status(s1, b["request_id"])["status"], "QUEUED")
        s1.kill()
        # All three were charged at submit; the cancelled one was refunded before the kill (or, if the kill came
        # between the cancel and its refund, by the next start's finisher: the hook is pending in the store).
        self.assertIn(self.credits(), (CREDITS - 2 * PRICE, CREDITS - 3 * PRICE))

        s2 = self.start_server(port=s1.port)
        # Right after the restart every id is known (no 404), A and B are waiting or running again.
        for job in (a, b, c):
            self.status(s2, job["request_id"])
        self.assertEqual(self.status(s2, c["request_id"])["error"], "cancelled")
        fa = self.wait_final(s2, a["request_id"])
        fb = self.wait_final(s2, b["request_id"])
        fc = self.wait_final(s2, c["request_id"])
        self.assert_video(s2, fa)
        self.assertEqual(fa["metrics"]["attempts"], 2)  # claimed before the kill and again after it
        self.assertEqual(fb["status"], "FAILED")
        self.assertEqual(fb["error"], "image_2: fetching the URL returned HTTP 404")
        self.assertEqual((fc["status"], fc["error"]), ("FAILED", "cancelled"))
        # Charged for A only (B refunded when it failed after the restart, C when it was cancelled).
        self.assertEqual(self.wait_credits(CREDITS - PRICE), CREDITS - PRICE)
        code, h, _ = tclib.http("POST", s2.url + "/v2/tooncrafter", payload(imagee_9="typo"), headers=self.hdr)
        self.assertEqual(code, 400)  # a rejected submit is not charged either
        self.assertEqual(self.credits(), CREDITS - PRICE)

    def test_kill_during_sync_v1_request_is_recoverable_by_idempotency_key(self):
        s1 = self.start_server()
        body = payload(seed=5)
        idem = {"Idempotency-Key": "v1-crash-1"}
        outcome = {}

        def v1_call():
            try:
                outcome["reply"] = tclib.http("POST", s1.url + "/v1/tooncrafter", body, headers={**self.hdr, **idem},
                                              timeout=WAIT_S)
            except (OSError, urllib.error.URLError, ConnectionError) as e:  # the connection died with the server
                outcome["error"] = e
            except Exception as e:  # http.client.RemoteDisconnected is an OSError; anything else is recorded
                outcome["error"] = e

        t = threading.Thread(target=v1_call, daemon=True)
        t.start()
        # The v1 client has no id yet: watch the server's gauges until its job runs in the engine.
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            _, _, m = tclib.http("GET", s1.url + "/metrics")
            if re.search(rb'^tooncrafter_jobs\{state="PROCESSING"\} 1$', m, re.M):
                break
            time.sleep(0.1)
        else:
            self.fail("the v1 job never started")
        time.sleep(0.5)  # into the engine
        s1.kill()
        t.join(60)
        self.assertFalse(t.is_alive(), "the v1 client still waits on a dead server")
        self.assertNotIn("reply", outcome, f"got a reply from a killed server: {outcome.get('reply')}")
        self.assertIn("error", outcome)
        self.assertEqual(self.credits(), CREDITS - PRICE)  # accepted = charged; kept because the job is kept

        s2 = self.start_server(port=s1.port)
        # The client retries the same request with the same key: it gets the re-run's video, charged once.
        code, h, data = tclib.http("POST", s2.url + "/v1/tooncrafter", body, headers={**self.hdr, **idem},
                                   timeout=WAIT_S)
        self.assertEqual(code, 200, data[:300])
        self.assertEqual(h.get("content-type"), "video/mp4")
        self.assertEqual(data[4:8], b"ftyp")
        rid = h["x-request-id"]
        st = self.status(s2, rid)
        self.assertEqual(st["status"], "COMPLETED")
        self.assertEqual(st["metrics"]["attempts"], 2)  # the job of the killed call, run again
        self.assertEqual(self.credits(), CREDITS - PRICE)
        self.assertEqual(int(h["x-remaining-credits"]), CREDITS - PRICE)
        # A v2 retry with the same key names the same job.
        again = self.submit(s2, body, headers=idem)
        self.assertEqual(again["request_id"], rid)
        self.assertEqual(self.credits(), CREDITS - PRICE)

    def test_job_processing_at_every_kill_fails_after_max_attempts(self):
        attempts = 2
        s = self.start_server("--max-attempts", str(attempts))
        job = self.submit(s, payload(seed=9))
        rid = job["request_id"]
        port = s.port
        for n in range(1, attempts + 1):
            st = self.wait_processing(s, rid)
            self.assertEqual(st["metrics"]["attempts"], n)
            s.kill()
            self.assertEqual(self.credits(), CREDITS - PRICE)
            s = self.start_server("--max-attempts", str(attempts), port=port)
        final = self.wait_final(s, rid)
        self.assertEqual(final["status"], "FAILED", final)
        self.assertIn(f"{attempts} times", final["error"])
        self.assertIn("giving up", final["error"])
        code, _, raw = tclib.http("GET", f"{s.url}/v2/requests/{rid}", headers=self.hdr)
        self.assertEqual(code, 422)
        self.assertEqual(json.loads(raw)["error"], final["error"])
        # Failed by the recovery: refunded like any other failure.
        self.assertEqual(self.wait_credits(CREDITS), CREDITS)
        # The server itself is healthy and takes new work.
        code, _, _ = tclib.http("GET", s.url + "/health")
        self.assertEqual(code, 200)

    def test_webhook_retries_pending_at_a_kill_resume_after_the_restart(self):
        rx = tclib.WebhookReceiver(fail_first=2)
        try:
            # --no-auth: the webhooks are signed with the server's <data-dir>/webhook_secret, which the test reads.
            # 2 s between attempts: room to kill the server after the first failed attempt, before the second.
            args = ("--no-auth", "--webhook-backoff", "2,2,2")
            s1 = self.start_server(*args)
            job = self.submit(s1, payload(seed=21, steps=1, webhook=rx.url + "/hook"))
            rid = job["request_id"]
            # Until the first attempt (HTTP 500) is in the status: a retry is pending.
            deadline = time.monotonic() + WAIT_S
            while True:
                self.assertLess(time.monotonic(), deadline, "the first webhook attempt never showed in the status")
                st = self.status(s1, rid)
                w = st.get("webhook", {})
                if w.get("deliveries"):
                    break
                time.sleep(0.05)
            self.assertEqual(st["status"], "COMPLETED", st)
            self.assertEqual(w["state"], "pending", w)
            self.assertEqual(len(w["deliveries"]), 1, w)
            self.assertEqual(w["deliveries"][0]["http_status"], 500)
            self.assertGreater(w["next_attempt_at"], 0)
            s1.kill()
            hits_at_kill = len(rx.hits())

            s2 = self.start_server(*args, port=s1.port)
            hits = rx.wait_hits(3, timeout=WAIT_S)
            self.assertEqual(len(hits), 3, hits)
            self.assertGreaterEqual(3 - hits_at_kill, 1, "no attempt after the restart")
            deadline = time.monotonic() + WAIT_S
            while True:
                w = self.status(s2, rid).get("webhook", {})
                if w.get("state") != "pending":
                    break
                self.assertLess(time.monotonic(), deadline, w)
                time.sleep(0.05)
            self.assertEqual(w["state"], "delivered", w)
            self.assertEqual([d["attempt"] for d in w["deliveries"]], [1, 2, 3], w)
            self.assertEqual([d["http_status"] for d in w["deliveries"]], [500, 500, 200], w)
            self.assertEqual(w["webhook_id"], "msg_" + rid)
            self.assertEqual(w["url_host"], f"127.0.0.1:{rx.port}")
            self.assertNotIn("next_attempt_at", w)
            with open(os.path.join(self.data, "webhook_secret")) as f:
                secret = f.read().strip()
            bodies = set()
            for headers, body in hits:
                self.assertEqual(headers["webhook-id"], "msg_" + rid)  # the same id on every attempt, both processes
                self.assertEqual(headers["webhook-event"], "request.completed")
                self.assertTrue(tclib.verify_webhook_signature(secret, headers, body), headers)
                doc = json.loads(body)
                self.assertEqual((doc["type"], doc["data"]["request_id"]), ("request.completed", rid))
                bodies.add(body)
            self.assertEqual(len(bodies), 1)  # (a file:// output URL: the very same body every time)
            # The result shows the same log.
            code, _, raw = tclib.http("GET", f"{s2.url}/v2/requests/{rid}", headers=self.hdr)
            self.assertEqual(code, 200)
            self.assertEqual(json.loads(raw)["webhook"], w)
        finally:
            rx.close()


if __name__ == "__main__":
    tclib.main()
