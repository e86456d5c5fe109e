"""S3 artifact storage of `tooncrafter serve --storage s3://...` (server/artifacts.h, server/s3_client.h),
black-box against a real S3-compatible server: `moto_server` from the test venv (PyPI moto[server]), started
here on a free loopback port.

What must hold:
- a finished request's output URL is a presigned S3 GET (SigV4 query parameters, lifetime = --retention) that
  downloads, without any credentials, a playable MP4;
- files above the multipart threshold go up as a multipart upload (the object's ETag ends in "-<parts>"), files
  below it as one PUT;
- after --retention the object is deleted from the bucket and the request's status answers 404;
- a bad configuration fails at start with the store's error (missing bucket, unknown parameter);
- with moto's IAM authentication on, the store itself verifies our SigV4 signatures (botocore recomputes them):
  uploads are accepted with the right secret, and a wrong secret is refused with SignatureDoesNotMatch;
- the secret key never appears in the server's log.

The bucket is created and inspected with plain unsigned HTTP (moto accepts it when its authentication is off).
Requests are small (2 keyframes of 256x256, 2 steps). Timeouts only stop hangs (CI runs this under ASan).
"""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tclib  # noqa: E402

tclib.require_binary()
tclib.require_program("ffmpeg")
tclib.require_program("ffprobe")


def find_moto_server():
    candidates = [os.path.join(os.path.dirname(sys.executable), "moto_server")]
    venv = os.environ.get("TC_TEST_VENV")
    if venv:
        candidates.append(os.path.join(venv, "bin", "moto_server"))
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    return None


MOTO = find_moto_server()
if not MOTO:
    tclib.skip("moto_server is not installed in the test venv (tests/python/requirements.txt: moto[server])")

WAIT_S = 1800  # hang guard only
ACCESS_KEY = "AKIATOONCRAFTERTEST1"
SECRET_KEY = "tc/Secret+Key/For/The/S3/Test/0123456789"
BUCKET = "tc-artifacts"
KEYS = []


def payload(**extra):
    p = {"image_1": KEYS[0], "image_2": KEYS[1], "max_width": 256, "max_height": 256, "steps": 2, "seed": 5}
    p.update(extra)
    return p


class Moto:
    """moto_server on 127.0.0.1 and a free port; logs in `<dir>/moto.log`."""

    def __init__(self, workdir, env=None):
        self.port = tclib.free_port()
        self.log = open(os.path.join(workdir, f"moto-{self.port}.log"), "ab")
        self.proc = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                status, _, _ = tclib.http("GET", self.url + "/moto-api/", timeout=2)
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("moto_server did not start within 120 s")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class S3StorageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        KEYS[:] = [tclib.keyframe_b64(0), tclib.keyframe_b64(1)]
        cls.tmp = tempfile.mkdtemp(prefix="tc-s3-")
        # Small parts allowed (S3 wants >= 5 MiB but for the last part): the test forces several parts through
        # an output of some tens of KiB.
        cls.moto = Moto(cls.tmp, env={"S3_UPLOAD_PART_MIN_SIZE": "1"})
        status, _, body = tclib.http("PUT", f"{cls.moto.url}/{BUCKET}")
        assert status == 200, (status, body)

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()
        if os.environ.get("TC_KEEP_TEST_DIRS"):
            print(f"kept {cls.tmp}")
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.data = os.path.join(self.tmp, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.data)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        if self.servers:
            log = self.servers[-1].log_tail(400)
            self.assertNotIn(SECRET_KEY, log, "the secret key appears in the server log")
            print(f"--- server log tail ({self.id()}) ---\n{self.servers[-1].log_tail(20)}", flush=True)

    # ---- helpers -------------------------------------------------------------------------------------------

    def storage_url(self, moto=None, prefix="outputs", **params):
        q = {"endpoint": (moto or self.moto).url, "region": "us-east-1"}
        q.update({k: str(v) for k, v in params.items()})
        return f"s3://{BUCKET}/{prefix}?" + urllib.parse.urlencode(q, safe=":/")

    def env(self, secret=SECRET_KEY, access=ACCESS_KEY):
        return {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "",
                "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}

    def start_server(self, storage, *extra, env=None):
        s = tclib.Server(self.data, "--model", "demo", "--no-auth", "--storage", storage, *extra,
                         env=env or self.env())
        self.servers.append(s)
        return s.start()

    def run_job(self, server):
        code, _, raw = tclib.http("POST", server.url + "/v2/tooncrafter", payload())
        self.assertEqual(code, 200, raw[:300])
        sub = json.loads(raw)
        code, status = tclib.wait_status(sub["status_url"], timeout=WAIT_S)
        self.assertEqual(status["status"], "COMPLETED", status)
        return sub, status

    def object_key(self, output_url, moto=None):
        """The object key of a presigned output URL (path-style: /BUCKET/KEY)."""
        u = urllib.parse.urlsplit(output_url)
        self.assertEqual(f"{u.scheme}://{u.netloc}", (moto or self.moto).url, output_url)
        self.assertTrue(u.path.startswith(f"/{BUCKET}/"), output_url)
        return u.path[len(BUCKET) + 2:]

    def head(self, key, moto=None):
        return tclib.http("HEAD", f"{(moto or self.moto).url}/{BUCKET}/{key}")

    # ---- tests ---------------------------------------------------------------------------------------------

    def test_presigned_download_and_multipart_upload(self):
        part = 16384
        retention = 900
        server = self.start_server(self.storage_url(multipart_threshold=1, part_size=part),
                                   "--retention", str(retention))
        sub, status = self.run_job(server)
        url = status["output"]
        key = self.object_key(url)
        self.assertRegex(key, r"^outputs/[0-9a-f]{32}\.mp4$")

        # A SigV4 presigned GET that lives as long as the result.
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        self.assertEqual(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256")
        self.assertRegex(q["X-Amz-Credential"], rf"^{ACCESS_KEY}/\d{{8}}/us-east-1/s3/aws4_request$")
        self.assertEqual(q["X-Amz-Expires"], str(retention))
        self.assertEqual(q["X-Amz-SignedHeaders"], "host")
        self.assertRegex(q["X-Amz-Signature"], r"^[0-9a-f]{64}$")
        self.assertNotIn(SECRET_KEY, url)
        self.assertNotIn(urllib.parse.quote(SECRET_KEY, safe=""), url)

        # The result endpoint hands out the same object.
        code, _, raw = tclib.http("GET", sub["response_url"])
        self.assertEqual(code, 200)
        self.assertEqual(self.object_key(json.loads(raw)["output_url"]), key)

        # Downloads with no credentials at all; a playable MP4.
        code, hdrs, video = tclib.http("GET", url, timeout=120)
        self.assertEqual(code, 200)
        self.assertGreater(len(video), 1000)
        path = os.path.join(self.data, "out.mp4")
        with open(path, "wb") as f:
            f.write(video)
        probe = tclib.ffprobe(path)
        self.assertIn("mp4", probe["format"]["format_name"])
        streams = [s for s in probe["streams"] if s.get("codec_type") == "video"]
        self.assertTrue(streams, probe)
        self.assertEqual((streams[0]["width"], streams[0]["height"]), (256, 256))
        self.assertGreater(int(streams[0].get("nb_read_frames", 0)), 1)

        # Uploaded in parts: the ETag of a multipart object ends in -<number of parts>.
        code, hdrs, _ = self.head(key)
        self.assertEqual(code, 200)
        self.assertEqual(int(hdrs["content-length"]), len(video))
        expected_parts = math.ceil(len(video) / part)
        self.assertGreaterEqual(expected_parts, 2, "the output is too small to need several parts")
        self.assertRegex(hdrs["etag"], rf'-{expected_parts}"?$')
        self.assertIn(f"{expected_parts}-part upload", server.log_tail(400))

        # The server proxies /files/<name> from the bucket too (same bytes).
        name = key.rsplit("/", 1)[1]
        code, _, proxied = tclib.http("GET", f"{server.url}/files/{name}", timeout=120)
        self.assertEqual(code, 200)
        self.assertEqual(proxied, video)

        # No local copy is left behind: the staged file was removed after the upload.
        staging = os.path.join(self.data, "staging")
        self.assertEqual(os.listdir(staging) if os.path.isdir(staging) else [], [])

    def test_single_put_and_expiry_deletes_the_object(self):
        retention = 4
        server = self.start_server(self.storage_url(prefix="short/lived"), "--retention", str(retention))
        sub, status = self.run_job(server)
        key = self.object_key(status["output"])
        self.assertTrue(key.startswith("short/lived/"), key)
        self.assertEqual(urllib.parse.parse_qs(urllib.parse.urlsplit(status["output"]).query)["X-Amz-Expires"],
                         [str(retention)])
        code, hdrs, _ = self.head(key)
        # Either already swept (a slow machine) or there, uploaded in one PUT (no "-N" ETag).
        if code == 200:
            self.assertNotRegex(hdrs["etag"], r"-\d+\"?$")
        # After the retention: the object is gone from the bucket and the request is unknown.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            gone = self.head(key)[0] == 404
            code, _, _ = tclib.http("GET", sub["status_url"])
            if gone and code == 404:
                break
            time.sleep(0.5)
        self.assertEqual(self.head(key)[0], 404, "the expired object is still in the bucket")
        self.assertEqual(tclib.http("GET", sub["status_url"])[0], 404)
        self.assertEqual(tclib.http("GET", status["output"])[0], 404)

    def test_bad_configuration_fails_at_start(self):
        def serve(storage, env=None):
            cmd = [tclib.BINARY, "serve", "--host", "127.0.0.1", "--port", str(tclib.free_port()), "--data-dir",
                   self.data, "--model", "demo", "--no-auth", "--storage", storage]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                                  env=dict(os.environ, **(env or self.env())))

        missing = self.storage_url().replace(f"s3://{BUCKET}/", "s3://no-such-bucket/")
        r = serve(missing)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("HeadBucket", r.stderr)
        self.assertIn("404", r.stderr)
        self.assertNotIn(SECRET_KEY, r.stderr)

        r = serve(self.storage_url(multipart_treshold=1))  # a typo
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown S3 parameter 'multipart_treshold'", r.stderr)

        no_creds = dict(self.env(), AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
        r = serve(self.storage_url(), env=no_creds)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("AWS_ACCESS_KEY_ID", r.stderr)

        r = serve("ftp://example.com/x")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unsupported URL scheme", r.stderr)

    def test_signatures_are_verified_by_the_store(self):
        try:
            import boto3  # moto[server] depends on it
        except ImportError:
            self.skipTest("boto3 is not importable (it comes with moto)")
        # The first 4 actions are free (the IAM user, its key, its policy, the bucket); every later request must carry
        # a valid signature of a known key, checked by botocore's own SigV4 code inside moto.
        moto = Moto(self.tmp, env={"INITIAL_NO_AUTH_ACTION_COUNT": "4", "S3_UPLOAD_PART_MIN_SIZE": "1"})
        try:
            iam = boto3.client("iam", endpoint_url=moto.url, region_name="us-east-1",
                               aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
            iam.create_user(UserName="tc")
            k = iam.create_access_key(UserName="tc")["AccessKey"]
            iam.put_user_policy(UserName="tc", PolicyName="s3", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
            s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1",
                              aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])
            s3.create_bucket(Bucket=BUCKET)  # the 4th free action

            good = self.env(access=k["AccessKeyId"], secret=k["SecretAccessKey"])
            # A wrong secret: refused by the store at start, with its error code.
            bad = self.env(access=k["AccessKeyId"], secret=k["SecretAccessKey"][:-1] + "x")
            cmd = [tclib.BINARY, "serve", "--host", "127.0.0.1", "--port", str(tclib.free_port()), "--data-dir",
                   self.data, "--model", "demo", "--no-auth", "--storage", self.storage_url(moto)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, **bad))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("HeadBucket", r.stderr)
            self.assertIn("403", r.stderr)
            self.assertNotIn(bad["AWS_SECRET_ACCESS_KEY"], r.stderr)

            # The right one: HEAD bucket, the multipart upload (create, parts, complete) and the signed GET behind
            # /files/<name> all pass the store's check.
            server = self.start_server(self.storage_url(moto, multipart_threshold=1, part_size=16384), env=good)
            _, status = self.run_job(server)
            key = self.object_key(status["output"], moto)
            head = s3.head_object(Bucket=BUCKET, Key=key)
            self.assertRegex(head["ETag"], r'-\d+"$')
            code, _, body = tclib.http("GET", f"{server.url}/files/{key.rsplit('/', 1)[1]}", timeout=120)
            self.assertEqual(code, 200)
            self.assertEqual(len(body), head["ContentLength"])
            self.assertNotIn(k["SecretAccessKey"], server.log_tail(400))
        finally:
            moto.stop()


if __name__ == "__main__":
    tclib.main()
