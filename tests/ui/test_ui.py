"""Browser tests of the web UI of `envc serve`: a real server over a real store, driven by a
headless Chromium through selenium (run by tests/ui/run.sh, which CI calls from
scripts/test.sh).

Decisions:
- The store is made as a user would: a busybox base (tests/support/busybox-base.sh), then
  `envc build` of fixtures/oci/env-only.yaml twice, the second time with a changed env value
  that is an HTML `<script>` (the escaping case). The base is then in the store, so the server
  builds engine-free specs on `anyscale/ray:2.9.0-py310` without an engine or a network.
- The server runs with `--max-builds 1`. To follow a build live (EventSource) rather than find
  it finished, the test first submits a build whose base is on a "registry" that holds each
  connection for a while and then drops it: that build fails after seconds, and the build
  submitted through the /new form waits behind it, so its page opens while it is pending.
- Every page is also rendered 390 px wide (Chromium's device emulation) and must not scroll
  sideways; every page is screenshotted to target/ui-screenshots/ (CI keeps them).
- The revision page's first render is measured in the browser (first-contentful-paint and
  navigation timing) over 10 loads; the bar is a max of 200 ms.
"""

import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
ENVC = os.environ.get("ENVC") or str(REPO / "target" / "debug" / "envc")
SHOTS = Path(os.environ.get("UI_SCREENSHOTS") or REPO / "target" / "ui-screenshots")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ESCAPE = "<script>window.__envcPwned=1</script>"
TOKEN = "0123456789abcdef0123456789abcdef"
PHONE = 390
PACKAGES_SPEC = """\
base_image: anyscale/ray:2.9.0-py310
debian_packages: [jq, curl]
python:
  pip_packages: ["requests==2.31.0", "numpy>=1.26"]
  conda_packages: [pyarrow]
post_build_cmds:
  - echo '<b>built</b>' > /tmp/marker
"""
FIRST_RENDER_MAX_MS = 200.0


def run(*args, **kw):
    result = subprocess.run(args, capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


class Server:
    """`envc serve` on a free loopback port; its stderr goes to a file the test reads."""

    def __init__(self, store, workdir, *extra):
        self.log = Path(workdir) / f"serve-{time.monotonic_ns()}.err"
        self.err = open(self.log, "w")
        self.proc = subprocess.Popen(
            [ENVC, "serve", "--store", str(store), "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.DEVNULL,
            stderr=self.err,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.log.read_text()
            for line in text.splitlines():
                if "serving the store" in line and "http://127.0.0.1:" in line:
                    port = line.rsplit("http://127.0.0.1:", 1)[1].strip().rstrip("/")
                    self.url = f"http://127.0.0.1:{int(port)}"
                    return
            if self.proc.poll() is not None:
                raise AssertionError(f"envc serve exited {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"envc serve did not say where it listens:\n{self.log.read_text()}")

    def api(self, path, body=None, token=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.err.close()


class SlowRegistry:
    """A TCP port that holds each connection `hold` seconds, then drops it."""

    def __init__(self, hold=2.0):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hold = hold
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Timer(self.hold, conn.close).start()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="envc-ui-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def store(workdir):
    assert os.access(ENVC, os.X_OK), f"no envc binary at {ENVC} (run `cargo build`)"
    base = workdir / "base"
    run(str(REPO / "tests/support/busybox-base.sh"), str(base))
    s = workdir / "store"
    spec = REPO / "fixtures/oci/env-only.yaml"
    run(ENVC, "build", str(spec), "--name", "demo", "--store", str(s), "--base", f"{base}:1")
    changed = workdir / "env-changed.yaml"
    text = spec.read_text()
    assert "GREETING: hello world" in text
    changed.write_text(text.replace("GREETING: hello world", f'GREETING: "{ESCAPE}"'))
    run(ENVC, "build", str(changed), "--name", "demo", "--store", str(s), "--base", f"{base}:1")
    # Packages and post-build commands need an engine to build; an import records their plan
    # beside an image built elsewhere (here the base itself, which is built on the base).
    packages = workdir / "packages.yaml"
    packages.write_text(PACKAGES_SPEC)
    run(ENVC, "import", "pkgs", "--spec", str(packages), "--image", f"oci:{base}:1", "--store", str(s))
    return s


@pytest.fixture(scope="session")
def server(store, workdir):
    srv = Server(store, workdir, "--max-builds", "1")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def driver(workdir):
    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.access(path, os.X_OK), f"{path} is missing (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def wait(driver, seconds=20):
    return WebDriverWait(driver, seconds)


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page, not only the viewport: the window is made as tall as the document.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": min(max(height, 600), 8000), "deviceScaleFactor": 1, "mobile": width <= PHONE},
    )
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    if width > PHONE:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    else:
        phone(driver)


def phone(driver):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def csp_ok(driver):
    """No inline script ran: the page's only script is /static/app.js."""
    srcs = driver.execute_script("return Array.from(document.scripts).map(s => s.src)")
    assert len(srcs) == 1 and "/static/app.js" in srcs[0], srcs


def test_index_lists_the_environments(server, driver):
    driver.get(server.url + "/")
    row = driver.find_element(By.CSS_SELECTOR, "tr.env[data-name='demo']")
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    _, envs = server.api("/v1/environments")
    demo = next(e for e in envs if e["name"] == "demo")
    assert cells[0] == "demo"
    assert cells[1] == str(demo["revisions"])
    assert cells[2] == demo["latest"]
    assert demo["manifest"].split(":")[1].startswith(cells[3])
    csp_ok(driver)
    shot(driver, "index")
    row.find_element(By.LINK_TEXT, "demo").click()
    wait(driver).until(EC.url_to_be(server.url + "/environments/demo"))


def test_environment_page_shows_revisions_and_origins(server, driver):
    driver.get(server.url + "/environments/demo")
    rows = driver.find_elements(By.CSS_SELECTOR, "#revisions tr.revision")
    _, views = server.api("/v1/environments/demo/revisions")
    assert [r.get_attribute("id") for r in rows] == [f"rev-{v['revision']}" for v in reversed(views)]
    first = text(driver, "#rev-1")
    assert "demo:1" in first and "assembled without an engine" in first
    assert views[0]["spec_digest"].split(":")[1][:12] in first
    link = driver.find_element(By.CSS_SELECTOR, "#rev-2 a.diff-link")
    assert link.get_attribute("href").endswith("/diff?a=demo:1&b=demo:2")
    assert not driver.find_elements(By.CSS_SELECTOR, "#rev-1 a.diff-link")
    shot(driver, "environment")


def test_revision_page_shows_the_revision(server, driver):
    driver.get(server.url + "/environments/demo/1")
    _, detail = server.api("/v1/environments/demo/revisions/1")
    assert text(driver, "#revision-title") == "demo:1"
    identity = text(driver, "#identity")
    assert detail["manifest"] in identity and detail["spec_digest"] in identity
    assert "anyscale/ray:2.9.0-py310" in identity
    env = text(driver, "#env")
    assert "GREETING" in env and "hello world" in env
    layers = driver.find_elements(By.CSS_SELECTOR, "#layers tbody tr")
    assert len(layers) == len(detail["layers"])
    for row, layer in zip(layers, detail["layers"]):
        cells = row.find_elements(By.TAG_NAME, "td")
        assert layer["digest"].split(":")[1].startswith(cells[1].text.split()[0])
        assert cells[2].text.split()[-1] in ("B", "KiB", "MiB", "GiB")
    with urllib.request.urlopen(server.url + "/v1/environments/demo/revisions/1/dockerfile") as r:
        dockerfile = r.read().decode()
    assert driver.find_element(By.ID, "dockerfile").text.strip() == dockerfile.strip()
    assert driver.find_element(By.ID, "rollback").text == "Roll back to demo:1"
    shot(driver, "revision")
    driver.get(server.url + "/environments/demo/latest")
    assert not driver.find_elements(By.ID, "rollback"), "the latest revision offers no rollback"


def test_revision_page_lists_packages_per_ecosystem(server, driver):
    driver.get(server.url + "/environments/pkgs/1")
    items = lambda eco: [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"#packages-{eco} li")]
    assert items("debian") == ["jq", "curl"]
    assert items("pip") == ["requests==2.31.0", "numpy>=1.26"]
    assert items("conda") == ["pyarrow"]
    commands = driver.find_elements(By.CSS_SELECTOR, "#post-build pre")
    assert [c.text for c in commands] == ["echo '<b>built</b>' > /tmp/marker"]
    assert not driver.find_elements(By.CSS_SELECTOR, "#post-build b"), "a command is text, not markup"
    assert "imported (envc import)" in text(driver, "#identity")
    dockerfile = text(driver, "#dockerfile")
    assert "jq" in dockerfile and "requests==2.31.0" in dockerfile
    shot(driver, "revision-packages")


def test_spec_values_are_escaped(server, driver):
    driver.get(server.url + "/environments/demo/2")
    cells = driver.find_elements(By.CSS_SELECTOR, "#env tbody tr")
    values = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text for r in cells}
    assert values["GREETING"] == ESCAPE
    assert driver.execute_script("return window.__envcPwned") is None
    csp_ok(driver)
    assert ESCAPE in driver.find_element(By.ID, "dockerfile").text
    driver.get(server.url + "/diff?a=demo:1&b=demo:2")
    assert ESCAPE in text(driver, "#diff-env")
    assert driver.execute_script("return window.__envcPwned") is None
    csp_ok(driver)
    shot(driver, "escaped")


def test_diff_side_by_side_and_its_form(server, driver):
    driver.get(server.url + "/diff")
    form = driver.find_element(By.ID, "diff-form")
    form.find_element(By.NAME, "a").send_keys("demo:1")
    form.find_element(By.NAME, "b").send_keys("demo:2")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(EC.presence_of_element_located((By.ID, "diff-summary")))
    assert driver.current_url.endswith("/diff?a=demo%3A1&b=demo%3A2")
    assert text(driver, "#diff-summary") == "demo:1 → demo:2: different"
    row = driver.find_element(By.CSS_SELECTOR, "#diff-env .change-changed")
    a, b = row.find_element(By.CLASS_NAME, "side-a").text, row.find_element(By.CLASS_NAME, "side-b").text
    assert "GREETING" in a and "hello world" in a
    assert "GREETING" in b and ESCAPE in b
    # Side by side on a laptop: b's column is to the right of a's, on the same line.
    ra, rb = (e.rect for e in row.find_elements(By.CSS_SELECTOR, "div"))
    assert rb["x"] > ra["x"] and abs(rb["y"] - ra["y"]) < 2
    _, doc = server.api("/v1/diff?a=demo:1&b=demo:2")
    layer_rows = driver.find_elements(By.CSS_SELECTOR, "#diff-layers .sides:not(.sides-head)")
    assert len(layer_rows) == max(len(doc["layers"]["a"]), len(doc["layers"]["b"]))
    shot(driver, "diff")
    driver.get(server.url + "/diff?a=demo:1&b=demo:1")
    assert text(driver, "#diff-summary") == "demo:1 → demo:1: the same"


def test_a_spec_with_an_error_shows_the_diagnostic_at_its_line(server, driver, workdir):
    driver.get(server.url + "/new")
    driver.find_element(By.ID, "env-name").send_keys("broken")
    # An unknown key (a misspelt post_build_cmds) on line 3, uploaded from a file.
    spec = "base_image: anyscale/ray:2.9.0-py310\nenv_vars: {A: b}\npost_buld_cmds: [echo hi]\n"
    upload = workdir / "broken.yaml"
    upload.write_text(spec)
    driver.find_element(By.ID, "spec-file").send_keys(str(upload))
    wait(driver).until(lambda d: d.find_element(By.ID, "spec").get_attribute("value") == spec)
    driver.find_element(By.ID, "submit").click()
    line = wait(driver).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#line-3.has-error")))
    diag = line.find_element(By.CSS_SELECTOR, ".diag[data-line='3']")
    assert "post_buld_cmds" in diag.text
    assert diag.get_attribute("data-code")
    assert "post_build_cmds" in diag.find_element(By.CLASS_NAME, "diag-help").text
    assert line.find_element(By.CLASS_NAME, "lineno").text == "3"
    assert not driver.find_elements(By.CSS_SELECTOR, "#line-1.has-error, #line-2.has-error")
    assert driver.current_url == server.url + "/new", "a refused spec is not built"
    _, builds = server.api("/v1/builds")
    assert not [b for b in builds if b["name"] == "broken"]
    shot(driver, "new-diagnostics")


def test_a_build_from_the_form_is_followed_live(server, driver):
    slow = SlowRegistry(hold=2.0)
    try:
        # Occupies the server's one build slot for a few seconds, then fails.
        status, blocker = server.api(
            "/v1/builds",
            {"name": "slow", "spec": f"docker_image: 127.0.0.1:{slow.port}/slow:1\nray_version: '2.9.0'\n"},
        )
        assert status == 202
        driver.get(server.url + "/new?name=fresh")
        assert driver.find_element(By.ID, "env-name").get_attribute("value") == "fresh"
        spec = "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  MODE: from-the-browser\n"
        driver.find_element(By.ID, "spec").send_keys(spec)
        driver.find_element(By.ID, "submit").click()
        wait(driver).until(EC.url_contains("/builds/"))
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "true", (
            "the build page opened on a finished build; the live path was not exercised"
        )
        assert text(driver, "#status") in ("pending", "in_progress")
        shot(driver, "build-live")
        wait(driver, 60).until(EC.text_to_be_present_in_element((By.ID, "status"), "succeeded"))
        lines = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log .line")]
        assert lines[-1].endswith("succeeded"), lines
        assert any(line.startswith("fresh:1 sha256:") for line in lines), lines
        link = wait(driver).until(EC.element_to_be_clickable((By.ID, "revision-link")))
        assert link.text == "fresh:1"
        shot(driver, "build")
        link.click()
        wait(driver).until(EC.url_to_be(server.url + "/environments/fresh/1"))
        assert "from-the-browser" in text(driver, "#env")
        # The blocker failed; its page (finished, rendered by the server) shows why.
        driver.get(server.url + "/builds/" + blocker["id"])
        assert text(driver, "#status") == "failed"
        assert "127.0.0.1" in text(driver, "#build-error")
        assert text(driver, "#log").splitlines()[-1] == "build failed"
        driver.get(server.url + "/environments/slow")
        assert "failed" in text(driver, "#server-builds")
    finally:
        slow.close()


def test_rollback_makes_revision_n_plus_1(server, driver):
    _, views = server.api("/v1/environments/demo/revisions")
    n = views[-1]["revision"]
    driver.get(server.url + "/environments/demo/1")
    driver.find_element(By.ID, "rollback").click()
    alert = wait(driver).until(EC.alert_is_present())
    assert "demo" in alert.text and "1" in alert.text
    alert.accept()
    wait(driver).until(EC.url_to_be(f"{server.url}/environments/demo/{n + 1}"))
    assert text(driver, "#revision-title") == f"demo:{n + 1} latest"
    identity = text(driver, "#identity")
    assert f"rollback to demo:1 (from demo:{n})" in identity
    assert driver.find_element(By.CSS_SELECTOR, "#identity a[href='/environments/demo/1']")
    assert not driver.find_elements(By.ID, "rollback")
    shot(driver, "rollback")
    # Declining the confirmation changes nothing.
    driver.get(server.url + "/environments/demo/1")
    driver.find_element(By.ID, "rollback").click()
    wait(driver).until(EC.alert_is_present()).dismiss()
    time.sleep(0.3)
    _, after = server.api("/v1/environments/demo/revisions")
    assert after[-1]["revision"] == n + 1


def test_unknown_and_bad_names_are_error_pages(server, driver):
    for path, status in [
        ("/environments/nope", 404),
        ("/environments/demo/99", 404),
        ("/environments/Bad!Name", 400),
        ("/environments/demo/x", 400),
        ("/builds/nope-20260101T000000Z-abcdef", 404),
        ("/no/such/page", 404),
    ]:
        driver.get(server.url + path)
        got = driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")
        assert got == status, (path, got)
        assert text(driver, "#error-title").startswith(str(status)), path
    driver.get(server.url + "/environments/nope")
    shot(driver, "not-found")


def test_pages_fit_a_phone(server, driver):
    _, views = server.api("/v1/environments/demo/revisions")
    _, builds = server.api("/v1/builds")
    pages = {
        "index": "/",
        "environment": "/environments/demo",
        "revision": "/environments/demo/1",
        "revision-packages": "/environments/pkgs/1",
        "diff": "/diff?a=demo:1&b=demo:2",
        "new": "/new",
        "login": "/login",
        "not-found": "/environments/nope",
    }
    if builds:
        pages["build"] = "/builds/" + builds[0]["id"]
    phone(driver)
    try:
        for name, path in pages.items():
            driver.get(server.url + path)
            width = driver.execute_script("return document.documentElement.scrollWidth")
            assert width <= PHONE, f"{path} is {width} px wide at {PHONE} px"
            shot(driver, f"{name}-phone")
        # The diff's columns stack: b below a.
        driver.get(server.url + "/diff?a=demo:1&b=demo:2")
        row = driver.find_element(By.CSS_SELECTOR, "#diff-env .change-changed")
        ra, rb = (e.rect for e in row.find_elements(By.CSS_SELECTOR, "div"))
        assert rb["y"] > ra["y"]
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_revision_page_first_render(server, driver):
    url = server.url + "/environments/demo/1"
    fcp, nav = [], []
    for _ in range(10):
        driver.get(url)
        assert text(driver, "#revision-title") == "demo:1"
        entry = None
        for _ in range(100):
            entry = driver.execute_script(
                "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                "return p ? p.startTime : null"
            )
            if entry is not None:
                break
            time.sleep(0.01)
        assert entry is not None, "no first-contentful-paint entry"
        fcp.append(entry)
        nav.append(
            driver.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "return [n.responseStart, n.responseEnd, n.domContentLoadedEventEnd, n.loadEventEnd]"
            )
        )
    ttfb = [n[0] for n in nav]
    dcl = [n[2] for n in nav]
    load = [n[3] for n in nav]
    print(
        f"\nrevision page first render over {len(fcp)} loads (ms): "
        f"first-contentful-paint median {statistics.median(fcp):.1f} max {max(fcp):.1f}; "
        f"response start median {statistics.median(ttfb):.1f} max {max(ttfb):.1f}; "
        f"DOMContentLoaded median {statistics.median(dcl):.1f} max {max(dcl):.1f}; "
        f"load median {statistics.median(load):.1f} max {max(load):.1f}\n"
        f"first-contentful-paint per load: {', '.join(f'{x:.0f}' for x in fcp)}"
    )
    assert max(fcp) <= FIRST_RENDER_MAX_MS, fcp


def test_token_login(store, workdir, driver):
    token_file = workdir / "token"
    token_file.write_text(TOKEN + "\n")
    srv = Server(store, workdir, "--token-file", str(token_file))
    try:
        driver.delete_all_cookies()
        driver.get(srv.url + "/environments/demo")
        wait(driver).until(EC.url_to_be(srv.url + "/login"))
        shot(driver, "login")
        driver.find_element(By.ID, "token").send_keys("not-the-token-at-all")
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        error = wait(driver).until(EC.visibility_of_element_located((By.ID, "login-error")))
        assert "not this server's token" in error.text
        got = driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")
        assert got == 401
        assert not driver.get_cookies()
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        wait(driver).until(EC.url_to_be(srv.url + "/"))
        assert driver.find_element(By.CSS_SELECTOR, "tr.env[data-name='demo']")
        cookie = driver.get_cookie("envc_token")
        assert cookie["value"] == TOKEN and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        # The cookie carries the API calls the pages make too.
        driver.get(srv.url + "/environments/demo/1")
        assert driver.find_element(By.ID, "rollback")
        status = driver.execute_async_script(
            "const done = arguments[0];"
            "fetch('/v1/environments').then(r => done(r.status), e => done(String(e)))"
        )
        assert status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            srv.api("/v1/environments")
        assert refused.value.code == 401
    finally:
        driver.delete_all_cookies()
        srv.stop()
