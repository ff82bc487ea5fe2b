"""The dashboard in a real browser (headless Chromium through Selenium), against a live
daemon: sign in, see an agent spawned through the API appear and run without reloading,
read a line it printed in the live tail, restart it with the button, and save a
screenshot that is checked not to be blank. Then, with many agents, time the first paint
and a live update. Run by scripts/browser-test, which starts the daemon."""

import json
import os
import shutil
import struct
import sys
import time
import urllib.request
import zipfile
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["PAR_URL"]
UI_URL = os.environ["PAR_UI_URL"]
TOKEN = os.environ["PAR_TOKEN"]
WORK = os.environ["BROWSER_TEST_DIR"]
MANY = int(os.environ.get("DASHBOARD_AGENTS", "1000"))


def api(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, method=method, headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"{}")


def package(name, manifest, files=None):
    path = os.path.join(WORK, name + ".apkg")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("agent.yaml", manifest)
        for file_name, text in (files or {}).items():
            archive.writestr(file_name, text)
    return path


def distinct_pixels(png):
    """Distinct RGB(A) values of a PNG (8-bit, non-interlaced), decoded with zlib alone."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, width, height, channels = 8, b"", 0, 0, 4
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        chunk = png[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1: line[i] = (line[i] + left) & 0xFF
            elif kind == 2: line[i] = (line[i] + up) & 0xFF
            elif kind == 3: line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        if row % 4 == 0:
            for x in range(0, stride, channels * 4):
                colours.add(bytes(line[x:x + 3]))
        previous = line
    return len(colours)


def browser():
    # The distribution's browser and driver, named outright: Selenium Manager would
    # otherwise look for them on the network, and tests make loopback traffic only.
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def main():
    figures = {}
    web = package("web", """name: web
version: 1.0.0
command: ["python3", "server.py"]
""", {"server.py": """
import http.server, os, sys
print("hello from the browser test agent", flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""})
    driver = browser()
    wait = WebDriverWait(driver, 20, poll_frequency=0.02)
    try:
        # The API port sends the browser to the dashboard's own port (its own origin).
        driver.get(URL + "/ui")
        assert driver.current_url == UI_URL + "/ui", driver.current_url
        wait.until(lambda d: d.find_element(By.ID, "token").is_displayed())
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "signin-button").click()
        wait.until(lambda d: d.find_element(By.ID, "agents").is_displayed())

        started = time.monotonic()
        api("POST", "/supervisor/spawn", {"agent_id": "web", "package_path": web})
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-id="par-web"]'))
        figures["agent row after spawn (s)"] = time.monotonic() - started
        assert figures["agent row after spawn (s)"] < 1.0, figures
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-id="par-web"]').get_attribute("data-state") == "running")

        driver.find_element(By.CSS_SELECTOR, 'tr[data-id="par-web"] td').click()
        wait.until(lambda d: "hello from the browser test agent" in d.find_element(By.ID, "log-lines").text)

        pid = api("GET", "/supervisor/processes/par-web")["pid"]
        driver.find_element(By.CSS_SELECTOR, 'tr[data-id="par-web"] button[data-action="restart"]').click()
        wait.until(lambda d: d.switch_to.alert)
        driver.switch_to.alert.accept()
        wait.until(lambda d: api("GET", "/supervisor/processes/par-web").get("pid") not in (None, pid))
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-id="par-web"]').get_attribute("data-state") == "running")
        assert driver.find_element(By.ID, "action-error").text == "", driver.find_element(By.ID, "action-error").text

        shot = os.path.join(WORK, "dashboard.png")
        driver.save_screenshot(shot)
        png = open(shot, "rb").read()
        colours = distinct_pixels(png)
        figures["screenshot distinct colours"] = colours
        assert colours >= 8, "the screenshot is blank: %d colours" % colours

        # A phone's width: the page does not scroll sideways (the table scrolls in its box),
        # the wide columns give way, the actions stay.
        driver.set_window_size(390, 844)
        driver.get(UI_URL + "/ui")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-id="par-web"]'))
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        figures["phone width: page overflow (px)"] = overflow
        assert overflow <= 0, "the page scrolls sideways at 390 px: %d px" % overflow
        assert not driver.find_element(By.CSS_SELECTOR, "#agents th.wide").is_displayed(), "wide columns shown on a phone"
        assert driver.find_element(By.CSS_SELECTOR, 'tr[data-id="par-web"] button[data-action="restart"]').is_displayed()
        driver.set_window_size(1280, 900)

        if MANY > 0:
            sleeper = package("sleeper", 'name: sleeper\nversion: 1.0.0\ncommand: ["sleep", "3600"]\nhealth: {type: none}\n')
            for index in range(MANY):
                api("POST", "/supervisor/spawn", {"agent_id": "s%04d" % index, "package_path": sleeper})
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and sum(1 for p in api("GET", "/supervisor/status")["processes"].values() if p["state"] == "running") < MANY + 1:
                time.sleep(0.2)
            # First paint: from navigation to the table knowing every agent, its first rows drawn.
            driver.get(UI_URL + "/ui")
            wait.until(lambda d: d.execute_script("return Number(document.getElementById('agents').dataset.rows || 0) >= %d && document.querySelector('#agents tbody tr[data-id]') !== null" % (MANY + 1)))
            figures["first paint, %d agents (s)" % (MANY + 1)] = driver.execute_script("return performance.now()") / 1000
            # Virtual: only the rows in view are in the document; scrolling brings the last.
            drawn = driver.execute_script("return document.querySelectorAll('#agents tbody tr[data-id]').length")
            figures["rows in the document, %d agents" % (MANY + 1)] = drawn
            assert drawn < 200, drawn
            driver.execute_script("const box = document.getElementById('agents-box'); box.scrollTop = box.scrollHeight")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-id="par-web"]'))
            driver.execute_script("document.getElementById('agents-box').scrollTop = 0")
            # A live update: one more agent, from the API's answer to its row.
            started = time.monotonic()
            api("POST", "/supervisor/spawn", {"agent_id": "late", "package_path": sleeper})
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-id="par-late"]'))
            figures["live update with %d agents (s)" % (MANY + 1)] = time.monotonic() - started
    finally:
        driver.quit()
    for name, value in figures.items():
        print("%s: %s" % (name, round(value, 3) if isinstance(value, float) else value))
    print("dashboard browser test passed")


if __name__ == "__main__":
    sys.exit(main())
