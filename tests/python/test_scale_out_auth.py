"""Scale-out with API keys (docs/scale-out.md "Keys, credits and rate limits"), black-box: a real `redis-server`
on a free loopback port, TWO API nodes (`serve --queue redis://...`, auth on, `--rate-limit`) and one demo
`tooncrafter worker`. Keys, credits and the submit rate limit live in Redis, so the nodes are interchangeable.

What must hold:
- a key made with `tooncrafter keys create --queue ...` works on both nodes (submit on one, poll on the other);
- a submit on node 1 charges it, and the balance node 2 reports (x-remaining-credits of an idempotent replay,
  which charges nothing) agrees, as does `keys list --json` (also with TOONCRAFTER_QUEUE from the environment);
- credits spent through node 2: node 1 answers 406;
- `keys revoke --queue ...`: node 1 and node 2 both refuse the key (403, a known key that was revoked; an
  unknown key is 401 on both);
- the per-key submit limit holds across the two nodes together: burst 10 in total, then 429 + Retry-After
  on either node (two per-process limiters would allow 20).

Two real jobs (2 keyframes of 256x256, 1 step); the rate-limit probes are empty bodies (refused with 400 after
the limiter, so they cost no job and no credit). Timeouts only stop hangs (CI runs this under ASan on 2 cores).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tclib  # noqa: E402

tclib.require_binary()
tclib.require_program("redis-server")
tclib.require_program("ffmpeg")

WAIT_S = 1800   # hang guard only
BURST = 10      # serve's submit burst (ServerConfig::submit_burst)
IMAGES = []


def payload():
    return {"image_1": IMAGES[0], "image_2": IMAGES[1], "max_width": 256, "max_height": 256, "steps": 1,
            "seed": 7, "output_format": "gif"}


class ScaleOutAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        IMAGES[:] = [tclib.keyframe_b64(0), tclib.keyframe_b64(1)]
        cls.tmp = tempfile.mkdtemp(prefix="tc-scale-auth-")
        files = os.path.join(cls.tmp, "files")
        os.makedirs(files)
        storage = "file://" + files
        cls.redis = tclib.RedisServer(os.path.join(cls.tmp, "redis"), aof=False).start()
        cls.nodes = []
        cls.worker = None
        try:
            # 0.001 submits/s: no token comes back while the suite runs, so the limit test counts exactly.
            for i in (1, 2):
                cls.nodes.append(tclib.Server(os.path.join(cls.tmp, f"api{i}"), "--queue", cls.redis.url,
                                              "--storage", storage, "--rate-limit", "0.001").start())
            cls.worker = tclib.Worker(cls.tmp, cls.redis.url, storage, "w1", "--model", "demo",
                                      env={"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}).start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.worker:
            cls.worker.stop()
        for n in cls.nodes:
            n.stop()
        cls.redis.stop()
        if os.environ.get("TC_KEEP_TEST_DIRS"):
            print(f"kept {cls.tmp}")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        for i, n in enumerate(self.nodes, 1):
            print(f"--- API node {i} log tail ({self.id()}) ---\n{n.log_tail(8)}", flush=True)

    # ---- helpers ---------------------------------------------------------------------------------------------

    def cli(self, *args, env=None, use_flag=True):
        """`tooncrafter ARGS --queue URL` (or TOONCRAFTER_QUEUE in the environment); returns stdout."""
        cmd = [tclib.BINARY, *args] + (["--queue", self.redis.url] if use_flag else [])
        run_env = dict(os.environ, **(env or {}))
        run_env.pop("TOONCRAFTER_DATA_DIR", None)
        out = subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=120)
        self.assertEqual(out.returncode, 0, f"{cmd[1:]}: {out.stderr}")
        return out.stdout

    def create_key(self, name, credits):
        out = self.cli("keys", "create", "--name", name, "--credits", str(credits))
        self.assertEqual(out.count("\n"), 1, out)  # the key alone on stdout
        key = out.strip()
        self.assertTrue(key.startswith("tc_"), out)
        return key

    def credits_of(self, name, **kw):
        listed = json.loads(self.cli("keys", "list", "--json", **kw))
        return {k["name"]: k for k in listed}[name]

    def submit(self, node, key, body=None, idem=None):
        headers = {"x-api-key": key}
        if idem:
            headers["Idempotency-Key"] = idem
        return tclib.http("POST", node.url + "/v2/tooncrafter", payload() if body is None else body, headers)

    # ---- tests (run in name order on one cluster) -------------------------------------------------------------

    def test_1_key_works_on_both_nodes_and_balances_agree(self):
        n1, n2 = self.nodes
        key = self.create_key("shared", 3)
        code, hdrs, raw = self.submit(n1, key, idem="first")
        self.assertEqual(code, 200, raw[:300])
        self.assertEqual(hdrs.get("x-remaining-credits"), "2")  # price 1: 2 keyframes, no loop
        rid = json.loads(raw)["request_id"]

        # Node 2 knows the key and sees the same balance: the replay returns the same job, charges nothing.
        code, hdrs, raw = self.submit(n2, key, idem="first")
        self.assertEqual(code, 200, raw[:300])
        self.assertEqual(json.loads(raw)["request_id"], rid)
        self.assertEqual(hdrs.get("x-remaining-credits"), "2")
        self.assertEqual(self.credits_of("shared")["credits"], 2)
        self.assertEqual(self.credits_of("shared", env={"TOONCRAFTER_QUEUE": self.redis.url},
                                         use_flag=False)["credits"], 2)

        # The job submitted through node 1 is polled to completion through node 2 with the same key.
        code, body = tclib.wait_status(f"{n2.url}/v2/requests/{rid}/status", headers={"x-api-key": key},
                                       timeout=WAIT_S)
        self.assertEqual(body["status"], "COMPLETED", body)
        self.__class__.shared_key, self.__class__.shared_rid = key, rid

    def test_2_credits_spent_on_one_node_are_gone_on_the_other(self):
        n1, n2 = self.nodes
        key = self.create_key("one-credit", 1)
        code, hdrs, raw = self.submit(n2, key)
        self.assertEqual(code, 200, raw[:300])
        self.assertEqual(hdrs.get("x-remaining-credits"), "0")
        code, _, raw = self.submit(n1, key)
        self.assertEqual(code, 406, raw[:300])
        self.assertIn("insufficient credits", json.loads(raw)["error"])
        self.assertEqual(self.credits_of("one-credit")["credits"], 0)

    def test_3_revoke_through_the_cli_reaches_both_nodes(self):
        key, rid = self.shared_key, self.shared_rid
        key_id = self.credits_of("shared")["id"]
        self.cli("keys", "revoke", key_id)
        self.assertTrue(self.credits_of("shared")["revoked"])
        for i, n in enumerate(self.nodes, 1):
            code, _, raw = tclib.http("GET", f"{n.url}/v2/requests/{rid}/status", headers={"x-api-key": key})
            self.assertEqual(code, 403, f"node {i}: {raw[:300]!r}")
            code, _, raw = self.submit(n, key)
            self.assertEqual(code, 403, f"node {i}: {raw[:300]!r}")
            code, _, raw = self.submit(n, "tc_" + "0" * 64)
            self.assertEqual(code, 401, f"node {i}: {raw[:300]!r}")

    def test_4_rate_limit_counts_both_nodes_together(self):
        key = self.create_key("limited", 0)
        codes = []
        for i in range(BURST + 2):
            code, hdrs, raw = self.submit(self.nodes[i % 2], key, body=b"")
            codes.append(code)
            if code == 429:
                self.assertGreater(int(hdrs.get("retry-after", "0")), 0, hdrs)
            else:
                self.assertEqual(code, 400, raw[:300])  # past the limiter: the empty body is refused
        self.assertEqual(codes, [400] * BURST + [429, 429])


if __name__ == "__main__":
    tclib.main()
