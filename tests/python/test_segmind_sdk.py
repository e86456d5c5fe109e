"""Wire compatibility with the official `segmind` Python SDK (PyPI `segmind`), black-box against
`tooncrafter serve --model demo` with API keys on.

The SDK is pointed at our server the way DESIGN.md section 1 says: SegmindClient(api_key=KEY,
base_url="http://HOST:PORT/v1"). It derives the v2 prefix by replacing the trailing /v1, POSTs /v2/tooncrafter,
then follows the `status_url` / `response_url` of the submit response (so those must be absolute URLs of this
server), treats a body whose `status` is COMPLETED or FAILED as terminal whatever the HTTP code (FAILED is 422),
raises InferenceFailed(detail=body["error"]) on FAILED, and SegmindError(status=code, detail=body["error"]) on any
other non-2xx answer. Each of those dependencies has a test here.

Requests are small (2 keyframes of 256x256, 2 steps): the demo model's output is noise, the checks are on the
container (H.264 MP4, 16 frames, 256x256), not the pixels. Timeouts only stop hangs (CI runs this under ASan).
"""
import base64
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tclib  # noqa: E402

tclib.require_binary()
tclib.require_program("ffmpeg")
tclib.require_program("ffprobe")
try:
    import httpx  # noqa: F401  (the SDK's transport)
    import segmind
    from segmind import SegmindClient
    from segmind.exceptions import SegmindError
    from segmind.v2 import AsyncJob, InferenceFailed
except ImportError as e:  # the venv lacks the SDK: a skip, never a pass
    tclib.skip(f"the segmind SDK is not importable ({e}); scripts/test-venv.sh installs it")

WAIT_S = 1800          # generous: only a hang guard (ASan build, 2 loaded cores)
CLIENT_TIMEOUT_S = 1800  # httpx timeout of run_sync, which blocks for the whole generation
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
FRAMES = 16            # 2 keyframes -> 1 segment of the model's 16 frames


def small_payload(**extra):
    p = {"image_1": KEYS[0], "image_2": KEYS[1], "max_width": 256, "max_height": 256, "steps": 2, "seed": 7,
         "prompt": "cartoon character animation", "negative_prompt": "low quality", "loop": False,
         "interpolate": False, "color_correction": True}
    p.update(extra)
    return p


KEYS = []


def closing(test, client):
    """The client, its httpx connection pool closed at the test's end."""
    test.addCleanup(client._client.close)
    return client


class SegmindSdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        KEYS[:] = [tclib.keyframe_b64(0), tclib.keyframe_b64(1)]
        cls.tmp = tempfile.mkdtemp(prefix="tc-sdk-")
        cls.data = os.path.join(cls.tmp, "data")
        os.makedirs(cls.data)
        cls.key = tclib.create_key(cls.data, name="main", credits=1000)
        cls.other_key = tclib.create_key(cls.data, name="other", credits=1000)
        cls.broke_key = tclib.create_key(cls.data, name="broke", credits=0)
        # Serves keyframe 1 as a PNG at /k1.png; everything else 404s (a request that passes validation and
        # fails in the worker, where URLs are fetched).
        cls.files = tclib.StaticHttpServer({"/k1.png": base64.b64decode(KEYS[0])})
        cls.server = tclib.Server(cls.data, "--model", "demo", "--allow-private-fetch", "127.0.0.1/32").start()
        cls.base_v1 = cls.server.url + "/v1"
        cls.client = SegmindClient(api_key=cls.key, base_url=cls.base_v1, timeout=CLIENT_TIMEOUT_S)

    @classmethod
    def tearDownClass(cls):
        cls.client._client.close()  # the SDK's httpx client (SegmindClient has no close())
        cls.server.stop()
        cls.files.close()
        print(f"--- server log tail ---\n{cls.server.log_tail(20)}", flush=True)
        if os.environ.get("TC_KEEP_TEST_DIRS"):
            print(f"kept {cls.tmp}")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers -------------------------------------------------------------------------------------------

    def assert_playable_mp4(self, path):
        with open(path, "rb") as f:
            head = f.read(12)
        self.assertEqual(head[4:8], b"ftyp", f"{path} is not an MP4 (starts {head!r})")
        info = tclib.ffprobe(path)
        video = [s for s in info["streams"] if s.get("codec_type") == "video"]
        self.assertEqual(len(video), 1, info)
        v = video[0]
        self.assertEqual(v["codec_name"], "h264")
        self.assertEqual(v.get("pix_fmt"), "yuv420p")
        self.assertEqual((v["width"], v["height"]), (256, 256))
        self.assertEqual(int(v["nb_read_frames"]), FRAMES)

    def bytes_to_file(self, data, suffix=".mp4"):
        fd, path = tempfile.mkstemp(suffix=suffix, dir=self.tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def failing_payload(self):
        # Valid in every field, so it is accepted (and charged); the worker's fetch then gets a 404.
        return small_payload(image_1=self.files.url + "/missing.png")

    # ---- the SDK's v2 path ---------------------------------------------------------------------------------

    def test_submit_async_wait_completed(self):
        before = tclib.key_credits(self.data)["main"]
        # image_1 as a URL (fetched by the worker from the loopback server), image_2 as bare base64.
        job = self.client.submit_async("tooncrafter", **small_payload(image_1=self.files.url + "/k1.png"))
        self.assertIsInstance(job, AsyncJob)
        self.assertRegex(job.request_id, HEX_ID)
        # The SDK follows these URLs with the API key: they must name this server (the bound address here).
        self.assertEqual(job.status_url, f"{self.server.url}/v2/requests/{job.request_id}/status")
        self.assertEqual(job.response_url, f"{self.server.url}/v2/requests/{job.request_id}")
        self.assertEqual(job.submit_response["status"], "QUEUED")
        early = job.status()
        self.assertIn(early["status"], ("QUEUED", "PROCESSING", "COMPLETED"))
        self.assertEqual(early["request_id"], job.request_id)

        result = job.wait(timeout=WAIT_S, interval=0.5)
        self.assertEqual(result["status"], "COMPLETED")
        self.assertEqual(result["request_id"], job.request_id)
        self.assertIsInstance(result.get("metrics"), dict)
        out = result["output"]
        self.assertTrue(out.startswith(self.server.url + "/files/"), out)
        # The output URL works without the API key (an unguessable name, like a presigned URL).
        code, headers, data = tclib.http("GET", out, timeout=120)
        self.assertEqual(code, 200)
        self.assertEqual(headers.get("content-type"), "video/mp4")
        self.assert_playable_mp4(self.bytes_to_file(data))
        # Charged once for the completed request (2 keyframes = 1 segment = 1 credit).
        self.assertEqual(tclib.key_credits(self.data)["main"], before - 1)

    def test_run_sync_returns_mp4_bytes(self):
        resp = self.client.run_sync("tooncrafter", **small_payload(seed=11))
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(resp.headers.get("content-type"), "video/mp4")
        self.assertEqual(resp.content[4:8], b"ftyp")
        self.assertRegex(resp.headers.get("x-request-id", ""), HEX_ID)
        remaining = int(resp.headers["x-remaining-credits"])
        self.assertEqual(remaining, tclib.key_credits(self.data)["main"])
        self.assert_playable_mp4(self.bytes_to_file(resp.content))

    def test_run_failed_raises_inference_failed(self):
        # client.run = submit + wait with the SDK's defaults (600 s, 1 s interval); a fetch failure is quick.
        before = tclib.key_credits(self.data)["main"]
        with self.assertRaises(InferenceFailed) as cm:
            self.client.run("tooncrafter", **self.failing_payload())
        e = cm.exception
        self.assertEqual(e.detail, "image_1: fetching the URL returned HTTP 404")
        self.assertEqual(e.status_body["status"], "FAILED")
        self.assertEqual(e.status_body["error"], e.detail)
        # A failed request is refunded.
        self.assertEqual(tclib.key_credits(self.data)["main"], before)

    def test_submit_async_failed_detail_and_422_bodies(self):
        job = self.client.submit_async("tooncrafter", **self.failing_payload())
        with self.assertRaises(InferenceFailed) as cm:
            job.wait(timeout=WAIT_S, interval=0.5)
        self.assertIn("HTTP 404", cm.exception.detail)
        # result() tolerates the 422 because the body announces FAILED; the raw codes are 422 on both URLs.
        res = job.result()
        self.assertEqual(res["status"], "FAILED")
        self.assertEqual(res["error"], cm.exception.detail)
        for url in (job.status_url, job.response_url):
            code, headers, raw = tclib.http("GET", url, headers={"x-api-key": self.key})
            self.assertEqual(code, 422, url)
            self.assertTrue(headers.get("content-type", "").startswith("application/json"))
            self.assertEqual(json.loads(raw)["error"], cm.exception.detail)

    # ---- errors the SDK maps to SegmindError(status, detail=body["error"]) -----------------------------------

    def test_bad_key_is_401(self):
        bad = closing(self, SegmindClient(api_key="tc_not_a_real_key", base_url=self.base_v1, timeout=60))
        for call in (lambda: bad.run_sync("tooncrafter", **small_payload()),
                     lambda: bad.submit_async("tooncrafter", **small_payload())):
            with self.assertRaises(SegmindError) as cm:
                call()
            self.assertEqual(cm.exception.status, 401)
            self.assertEqual(cm.exception.detail, "invalid API key")

    def test_missing_key_is_401(self):
        env = os.environ.pop("SEGMIND_API_KEY", None)
        try:
            anon = closing(self, SegmindClient(api_key=None, base_url=self.base_v1, timeout=60))
            with self.assertRaises(SegmindError) as cm:
                anon.submit_async("tooncrafter", **small_payload())
            self.assertEqual(cm.exception.status, 401)
            self.assertIn("missing API key", cm.exception.detail)
        finally:
            if env is not None:
                os.environ["SEGMIND_API_KEY"] = env

    def test_unknown_parameter_is_400_naming_it(self):
        with self.assertRaises(SegmindError) as cm:
            self.client.submit_async("tooncrafter", **small_payload(imagee_3="x"))
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("imagee_3", cm.exception.detail)

    def test_insufficient_credits_is_406(self):
        broke = closing(self, SegmindClient(api_key=self.broke_key, base_url=self.base_v1, timeout=60))
        with self.assertRaises(SegmindError) as cm:
            broke.submit_async("tooncrafter", **small_payload())
        self.assertEqual(cm.exception.status, 406)
        self.assertIn("insufficient credits", cm.exception.detail)

    def test_unknown_and_foreign_ids_are_404(self):
        unknown = "0" * 32
        job = AsyncJob(request_id=unknown, status_url=f"{self.server.url}/v2/requests/{unknown}/status",
                       response_url=f"{self.server.url}/v2/requests/{unknown}", submit_response={},
                       _client=self.client)
        with self.assertRaises(SegmindError) as cm:
            job.status()
        self.assertEqual(cm.exception.status, 404)
        self.assertIsInstance(cm.exception.detail, str)
        # Another key's request looks exactly like an unknown one.
        mine = self.client.submit_async("tooncrafter", **self.failing_payload())
        other = closing(self, SegmindClient(api_key=self.other_key, base_url=self.base_v1, timeout=60))
        theirs = AsyncJob(request_id=mine.request_id, status_url=mine.status_url,
                          response_url=mine.response_url, submit_response={}, _client=other)
        with self.assertRaises(SegmindError) as cm:
            theirs.status()
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(InferenceFailed):
            mine.wait(timeout=WAIT_S, interval=0.5)

    # ---- raw wire shapes the SDK relies on -------------------------------------------------------------------

    def test_submit_response_shape_ignores_host_header(self):
        # The SDK sends its key to the URLs of this answer: a forged Host header must not steer them.
        code, headers, raw = tclib.http("POST", self.server.url + "/v2/tooncrafter", self.failing_payload(),
                                        headers={"x-api-key": self.key, "Host": "evil.example:666"})
        self.assertEqual(code, 200, raw)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"))
        body = json.loads(raw)
        rid = body["request_id"]
        self.assertRegex(rid, HEX_ID)
        self.assertEqual(body["status"], "QUEUED")
        self.assertEqual(body["status_url"], f"{self.server.url}/v2/requests/{rid}/status")
        self.assertEqual(body["response_url"], f"{self.server.url}/v2/requests/{rid}")
        self.assertNotIn("evil.example", raw.decode())
        self.assertIn("x-remaining-credits", headers)
        code, final = tclib.wait_status(body["status_url"], headers={"x-api-key": self.key}, timeout=WAIT_S)
        self.assertEqual((code, final["status"]), (422, "FAILED"))
        self.assertIn(final["status"], tclib.TERMINAL_STATES)

    def test_public_url_names_the_links(self):
        # A second server on the same data dir is not allowed (one worker owns the store): its own dir.
        data = os.path.join(self.tmp, "public-url")
        os.makedirs(data)
        key = tclib.create_key(data, name="p", credits=10)
        srv = tclib.Server(data, "--model", "demo", "--public-url", "https://tc.example.test:8443/",
                           "--allow-private-fetch", "127.0.0.1/32").start()
        try:
            client = closing(self, SegmindClient(api_key=key, base_url=srv.url + "/v1", timeout=60))
            job = client.submit_async("tooncrafter", **self.failing_payload())
            base = f"https://tc.example.test:8443/v2/requests/{job.request_id}"
            self.assertEqual(job.status_url, base + "/status")  # trailing '/' of --public-url dropped
            self.assertEqual(job.response_url, base)
            # Poll on the real address (the public name does not resolve here).
            code, final = tclib.wait_status(f"{srv.url}/v2/requests/{job.request_id}/status",
                                            headers={"x-api-key": key}, timeout=WAIT_S)
            self.assertEqual(final["status"], "FAILED")
        finally:
            srv.stop()


if __name__ == "__main__":
    print(f"segmind SDK {getattr(segmind, '__version__', '?')}, binary {tclib.BINARY}", flush=True)
    tclib.main()
