"""The web playground (GET /) in Debian's headless Chromium, driven by selenium, against the real binary.

Against `serve --model demo --no-auth`: the page is served with its headers (HTML, strict CSP, demo header, no key
needed), loads without CSP violations and shows the demo banner; two keyframes go in (one through the file input,
one through a synthetic drop event carrying a DataTransfer built in the page), they reorder; a 256x256, 2-step
request is submitted, its progress bar is read while it moves, the finished video gets a src and plays, and its
download link serves an H.264 MP4 (ffprobe); a server error body ({"error": ...}) is shown; a second job is
cancelled and ends FAILED "cancelled". Against a server with API keys: the page itself is public, a wrong key
shows the 401 error, the typed key is remembered across a reload (localStorage) and carries a request through
to the end (submit, the fetch()-read event stream, the video), with the credits header shown.

Screenshots of each stage go to a temporary directory whose path is printed; it is kept when TC_KEEP_ARTIFACTS
is set. Timeouts only stop hangs (CI runs the server under ASan on 2 loaded cores): nothing here is timed.
"""
import base64
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tclib  # noqa: E402

# Prerequisites, checked before unittest.main: a missing one is a skip (exit 77), never a pass.
tclib.require_binary()
tclib.require_program("ffmpeg")
tclib.require_program("ffprobe")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not CHROMIUM or not CHROMEDRIVER:
    tclib.skip("headless Chromium and its driver are not installed (apt-get install chromium chromium-driver)")
try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError as e:
    tclib.skip(f"selenium is not importable ({e}); scripts/test-venv.sh installs it")

JOB_WAIT_S = 1800   # a whole demo generation on a loaded (or sanitized) build: a hang guard only
UI_WAIT_S = 120     # the page reacting to something it already has
ARTIFACTS = tempfile.mkdtemp(prefix="tc-playground-")
SHOTS = []


def tearDownModule():
    print("\nplayground screenshots:\n  " + "\n  ".join(SHOTS), flush=True)
    if os.environ.get("TC_KEEP_ARTIFACTS"):
        print(f"artifacts kept in {ARTIFACTS} (TC_KEEP_ARTIFACTS)", flush=True)
    else:
        shutil.rmtree(ARTIFACTS, ignore_errors=True)


def wait_until(fn, timeout, what, interval=0.2):
    """Polls fn() until it returns something truthy; returns that. Fails the test after `timeout` s (hangs)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def make_driver(directory):
    """Headless Chromium under chromedriver, its profile and driver log in `directory`."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1360,1100", "--autoplay-policy=no-user-gesture-required",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={os.path.join(directory, 'chrome')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=os.path.join(directory, "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(UI_WAIT_S)
    driver.set_script_timeout(UI_WAIT_S)
    return driver


def probe_browser():
    """Skips (exit 77) when Chromium is installed but cannot start here (no display libraries, ...)."""
    try:
        make_driver(tempfile.mkdtemp(prefix="probe-", dir=ARTIFACTS)).quit()
    except WebDriverException as e:
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        tclib.skip(f"headless Chromium does not start under chromedriver: {(e.msg or str(e)).splitlines()[0]}")


def keyframe_files(directory):
    """Two small PNG keyframes on disk: (paths, base64 texts)."""
    paths, texts = [], []
    for i in range(2):
        b64 = tclib.keyframe_b64(i)
        path = os.path.join(directory, f"keyframe_{i + 1}.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(b64))
        paths.append(path)
        texts.append(b64)
    return paths, texts


# Builds a File from base64 bytes and a DataTransfer holding it, then fires dragenter/dragover/drop at the drop
# zone, as a real drag from the desktop would.
DROP_JS = """
const [b64, name, targetId] = arguments;
const bin = atob(b64);
const bytes = new Uint8Array(bin.length);
for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
const file = new File([bytes], name, {type: "image/png"});
const dt = new DataTransfer();
dt.items.add(file);
const target = document.getElementById(targetId);
for (const type of ["dragenter", "dragover", "drop"])
  target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
return dt.files.length;
"""

STATE_JS = """
const $ = (id) => document.getElementById(id);
return {progress: $("progress").value, status: $("job-status").textContent, stage: $("job-stage").textContent,
        error: $("error").hidden ? "" : $("error").textContent, request_id: document.body.dataset.requestId || ""};
"""

VIDEO_JS = """
const v = document.getElementById("video");
return {src: v.currentSrc || v.src || "", hidden: v.hidden, readyState: v.readyState, duration: v.duration || 0,
        currentTime: v.currentTime, paused: v.paused, error: v.error ? v.error.code : 0,
        width: v.videoWidth, height: v.videoHeight};
"""


class PlaygroundBase(unittest.TestCase):
    SERVER_ARGS = ()
    NAME = "base"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix=f"{cls.NAME}-", dir=ARTIFACTS)
        cls.data = os.path.join(cls.tmp, "data")
        os.makedirs(cls.data)
        cls.frame_paths, cls.frame_b64 = keyframe_files(cls.tmp)
        cls.prepare_data()
        cls.server = tclib.Server(cls.data, "--model", "demo", *cls.SERVER_ARGS).start()
        cls.driver = None
        try:
            cls.driver = make_driver(cls.tmp)
        except BaseException:
            cls.server.stop()
            raise

    @classmethod
    def prepare_data(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        if cls.driver:
            cls.driver.quit()
        cls.server.stop()

    # ---- helpers ----
    def shot(self, name):
        self.js("window.scrollTo(0, 0);")  # the result column is sticky: the top shows keyframes and result
        path = os.path.join(self.tmp, f"{name}.png")
        self.driver.save_screenshot(path)
        SHOTS.append(path)
        print(f"screenshot: {path}", flush=True)
        return path

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def by_id(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def state(self):
        return self.js(STATE_JS)

    def visible(self, element_id):
        return self.js(f"const e = document.getElementById({json.dumps(element_id)});"
                       "return !!e && !e.hidden && e.offsetParent !== null;")

    def load_page(self):
        self.driver.get(self.server.url + "/")
        wait_until(lambda: "ready" in self.by_id("server-pill").text, UI_WAIT_S, "the server pill to say ready")
        # A request remembered from before a reload is followed again; wait until it has settled.
        wait_until(lambda: self.by_id("cancel").get_attribute("disabled"), JOB_WAIT_S, "the page to be idle")

    def csp_violations(self):
        return [e["message"] for e in self.driver.get_log("browser") if "Content Security Policy" in e["message"]]

    def thumb_names(self):
        return self.js("return Array.from(document.querySelectorAll('#thumbs .thumb .meta'))"
                       ".map(e => e.textContent.split(' · ').slice(1).join(' · '));")

    def add_keyframe_by_input(self, path):
        n = len(self.thumb_names())
        self.by_id("file-input").send_keys(path)
        wait_until(lambda: len(self.thumb_names()) == n + 1, UI_WAIT_S, "a thumbnail from the file input")

    def add_keyframe_by_drop(self, b64, name):
        n = len(self.thumb_names())
        self.assertEqual(self.js(DROP_JS, b64, name, "drop"), 1)
        wait_until(lambda: len(self.thumb_names()) == n + 1, UI_WAIT_S, "a thumbnail from the drop event")

    def set_small_request(self, steps=2):
        Select(self.by_id("max_width")).select_by_visible_text("256")
        Select(self.by_id("max_height")).select_by_visible_text("256")
        steps_input = self.by_id("steps")
        steps_input.clear()
        steps_input.send_keys(str(steps))

    def submit(self):
        before = self.state()["request_id"]
        self.by_id("submit").click()
        return wait_until(lambda: (s := self.state())["request_id"] not in ("", before) and s["request_id"]
                          or (s["status"] == "FAILED" and s["error"] and "submit failed: " + s["error"]),
                          UI_WAIT_S, "the submit to answer")

    def run_to_completion(self, label):
        """Submits and follows the page until the job ends; returns the progress values read on the way."""
        request_id = self.submit()
        self.assertRegex(request_id, r"^[0-9a-f]{32}$", f"submit did not produce a request id: {request_id}")
        seen = []
        deadline = time.monotonic() + JOB_WAIT_S
        while True:
            s = self.state()
            if not seen or seen[-1] != s["progress"]:
                seen.append(s["progress"])
                if 0 < s["progress"] < 100:  # one screenshot per value the bar shows on the way
                    self.shot(f"{label}-3-progress-{int(s['progress']):03d}")
            if s["status"] in ("COMPLETED", "FAILED"):
                break
            self.assertLess(time.monotonic(), deadline, f"the job did not end (last state {s})")
            time.sleep(0.1)
        self.assertEqual(s["status"], "COMPLETED", f"the job failed: {s}\n{self.server.log_tail()}")
        return request_id, seen, s

    def check_result(self, label, request_id):
        # The video element gets a same-origin src and plays (muted autoplay).
        v = wait_until(lambda: (x := self.js(VIDEO_JS))["readyState"] >= 1 and x["duration"] > 0 and x,
                       UI_WAIT_S, "the video to load its metadata")
        self.assertFalse(v["hidden"])
        self.assertTrue(v["src"].startswith(self.server.url + "/files/"), v)
        self.assertEqual(v["error"], 0, v)
        self.assertEqual((v["width"], v["height"]), (256, 256), v)
        wait_until(lambda: self.js(VIDEO_JS)["currentTime"] > 0, UI_WAIT_S, "the video to play")
        self.shot(f"{label}-4-result")
        # The download link serves the MP4 without any key.
        link = self.by_id("download")
        href = link.get_attribute("href")
        self.assertTrue(link.get_attribute("download").endswith(".mp4"), link.get_attribute("download"))
        self.assertEqual(href, v["src"])
        code, headers, body = tclib.http("GET", href)
        self.assertEqual(code, 200)
        self.assertEqual(headers.get("content-type"), "video/mp4")
        out = os.path.join(self.tmp, f"{label}-download.mp4")
        with open(out, "wb") as f:
            f.write(body)
        probe = tclib.ffprobe(out)
        video = [st for st in probe["streams"] if st["codec_type"] == "video"][0]
        self.assertEqual(video["codec_name"], "h264")
        self.assertEqual((video["width"], video["height"]), (256, 256))
        self.assertEqual(int(video["nb_read_frames"]), 16)
        # The API agrees with the page.
        code, _, raw = tclib.http("GET", f"{self.server.url}/v2/requests/{request_id}/status", headers=self.api_headers())
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(raw)["status"], "COMPLETED")

    def api_headers(self):
        return {}


class PlaygroundNoAuthTest(PlaygroundBase):
    SERVER_ARGS = ("--no-auth",)
    NAME = "noauth"

    def test_1_page_is_served_with_strict_headers(self):
        for path in ("/", "/playground"):
            code, headers, body = tclib.http("GET", self.server.url + path)
            self.assertEqual(code, 200, path)
            self.assertEqual(headers.get("content-type"), "text/html; charset=utf-8")
            csp = headers.get("content-security-policy", "")
            self.assertIn("default-src 'none'", csp)
            self.assertRegex(csp, r"script-src 'sha256-[A-Za-z0-9+/]+=*'")
            self.assertRegex(csp, r"style-src 'sha256-[A-Za-z0-9+/]+=*'")
            self.assertNotIn("unsafe-inline", csp)
            self.assertNotIn("unsafe-eval", csp)
            self.assertIn("connect-src 'self'", csp)
            self.assertEqual(headers.get("x-content-type-options"), "nosniff")
            self.assertIn("demo", headers.get("x-tooncrafter-demo", ""))
            html = body.decode()
            self.assertTrue(html.startswith("<!DOCTYPE html>"))
            # Nothing external: no absolute http(s) resource in a src or href.
            self.assertEqual(re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html), [])

    def test_2_generate_watch_progress_play_and_download(self):
        self.load_page()
        self.assertTrue(self.visible("demo-banner"), "the demo banner is not shown")
        self.assertIn("outputs are noise", self.by_id("demo-banner").text)
        self.assertIn("--no-auth", self.by_id("api-key").get_attribute("placeholder"))
        self.assertTrue(self.by_id("submit").get_attribute("disabled"), "Generate must wait for 2 keyframes")
        self.shot("noauth-1-loaded")

        self.add_keyframe_by_input(self.frame_paths[0])
        self.add_keyframe_by_drop(self.frame_b64[1], "dropped.png")
        self.assertEqual(self.thumb_names(), ["keyframe_1.png", "dropped.png"])
        self.assertEqual(self.js("return Array.from(document.querySelectorAll('#thumbs .badge'))"
                                 ".map(e => e.textContent);"), ["image_1", "image_2"])
        # Reorder with the buttons, and back.
        self.driver.find_elements(By.CSS_SELECTOR, "#thumbs .thumb")[0].find_elements(By.TAG_NAME, "button")[1].click()
        self.assertEqual(self.thumb_names(), ["dropped.png", "keyframe_1.png"])
        self.driver.find_elements(By.CSS_SELECTOR, "#thumbs .thumb")[1].find_elements(By.TAG_NAME, "button")[0].click()
        self.assertEqual(self.thumb_names(), ["keyframe_1.png", "dropped.png"])
        self.assertFalse(self.by_id("submit").get_attribute("disabled"))
        self.set_small_request()
        self.shot("noauth-2-images")

        request_id, seen, final = self.run_to_completion("noauth")
        print(f"progress values read while the job ran: {seen}", flush=True)
        self.assertEqual(final["progress"], 100)
        self.assertTrue(any(0 < p < 100 for p in seen), f"the progress bar never showed progress: {seen}")
        self.assertEqual(seen, sorted(seen), "the progress bar went backwards")
        self.check_result("noauth", request_id)
        self.assertEqual(self.csp_violations(), [])
        # A reload follows the same request again and shows its result.
        src = self.js(VIDEO_JS)["src"]
        self.driver.refresh()
        wait_until(lambda: self.state()["status"] == "COMPLETED", UI_WAIT_S, "the reloaded page to show the result")
        self.assertEqual(self.state()["request_id"], request_id)
        wait_until(lambda: self.js(VIDEO_JS)["src"] == src, UI_WAIT_S, "the reloaded page's video")

    def test_3_server_error_is_shown(self):
        self.load_page()
        self.add_keyframe_by_input(self.frame_paths[0])
        self.add_keyframe_by_input(self.frame_paths[1])
        self.set_small_request()
        self.by_id("webhook").send_keys("ftp://example.invalid/hook")  # a valid URL to the browser, not to us
        self.by_id("submit").click()
        s = wait_until(lambda: (x := self.state())["error"] and x, UI_WAIT_S, "the error display")
        self.assertIn("HTTP 400", s["error"])
        self.assertIn("webhook must be an http(s) URL", s["error"])
        self.assertEqual(s["status"], "REJECTED")
        self.shot("noauth-5-error")

    def test_4_cancel(self):
        self.load_page()
        self.add_keyframe_by_input(self.frame_paths[0])
        self.add_keyframe_by_input(self.frame_paths[1])
        self.set_small_request(steps=200)  # long enough that the cancel lands mid-run
        request_id = self.submit()
        wait_until(lambda: self.state()["status"] in ("QUEUED", "PROCESSING"), UI_WAIT_S, "the job to start")
        self.assertFalse(self.by_id("cancel").get_attribute("disabled"))
        self.by_id("cancel").click()
        s = wait_until(lambda: (x := self.state())["status"] == "FAILED" and x, JOB_WAIT_S, "the job to end cancelled")
        self.assertEqual(s["stage"], "cancelled")
        self.assertIn("Cancelled", s["error"])
        self.shot("noauth-6-cancelled")
        code, _, raw = tclib.http("GET", f"{self.server.url}/v2/requests/{request_id}/status")
        self.assertEqual(code, 422)
        self.assertEqual(json.loads(raw)["error"], "cancelled")
        self.assertTrue(self.by_id("cancel").get_attribute("disabled"))
        self.assertFalse(self.by_id("submit").get_attribute("disabled"), "Generate must be usable again")


class PlaygroundAuthTest(PlaygroundBase):
    NAME = "auth"

    @classmethod
    def prepare_data(cls):
        cls.key = tclib.create_key(cls.data, name="playground", credits=50)

    def api_headers(self):
        return {"x-api-key": self.key}

    def test_1_page_is_public_and_api_is_not(self):
        code, headers, _ = tclib.http("GET", self.server.url + "/")
        self.assertEqual(code, 200)
        self.assertEqual(headers.get("content-type"), "text/html; charset=utf-8")
        code, _, raw = tclib.http("GET", self.server.url + "/v2/requests/" + "0" * 32 + "/status")
        self.assertEqual(code, 401)
        self.assertIn("error", json.loads(raw))

    def test_2_key_typed_into_the_field(self):
        self.load_page()
        self.assertIn("required", self.by_id("api-key").get_attribute("placeholder"))
        self.add_keyframe_by_input(self.frame_paths[0])
        self.add_keyframe_by_drop(self.frame_b64[1], "dropped.png")
        self.set_small_request()

        # A wrong key: the server's 401 body is shown.
        self.by_id("api-key").send_keys("tc_not_a_real_key")
        self.by_id("submit").click()
        s = wait_until(lambda: (x := self.state())["error"] and x, UI_WAIT_S, "the 401 error display")
        self.assertIn("HTTP 401", s["error"])
        self.assertIn("invalid API key", s["error"])
        self.assertIn("invalid", self.by_id("api-key").get_attribute("class"))
        self.shot("auth-1-wrong-key")

        # The right key is remembered across a reload (localStorage); the keyframes are not.
        self.by_id("api-key").clear()
        self.by_id("api-key").send_keys(self.key)
        self.load_page()
        self.assertEqual(self.by_id("api-key").get_attribute("value"), self.key)
        self.assertEqual(self.thumb_names(), [])
        self.add_keyframe_by_input(self.frame_paths[0])
        self.add_keyframe_by_input(self.frame_paths[1])
        self.set_small_request()
        self.shot("auth-2-images")

        request_id, seen, final = self.run_to_completion("auth")
        print(f"progress values read while the job ran: {seen}", flush=True)
        self.assertTrue(any(0 < p < 100 for p in seen), f"the progress bar never showed progress: {seen}")
        self.assertRegex(self.by_id("credits").text, r"Credits left on this key: \d+")
        self.check_result("auth", request_id)
        self.assertEqual(self.csp_violations(), [])


if __name__ == "__main__":
    probe_browser()
    tclib.main()
