"""A small W3C WebDriver client over plain HTTP (httpx), for the browser test of `voxport serve`'s page:
chromedriver started here, headless Chromium, and the few commands the test needs. No selenium."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

# Headless, offline and quiet (no component updates, sync or first-run pages); audio may start without a
# gesture, and Web Audio renders to Chromium's fake output when the machine has no sound card.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1000,900"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class WebDriverError(RuntimeError):
    pass


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, chromium: str, chromedriver: str, log: Path, timeout: float = 30.0) -> None:
        port = _free_port()
        self._log = log.open("w")
        self._driver = subprocess.Popen([chromedriver, f"--port={port}"], stdout=self._log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http.get(f"{self.base}/status").json()["value"]["ready"]:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self._driver.poll() is not None:
                self.close()
                raise WebDriverError(f"chromedriver did not start; its log: {log}")
            time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": CHROMIUM_ARGS}}}}
        try:
            self.session = self._call("POST", f"{self.base}/session", caps)["sessionId"]
        except BaseException:
            self.close()
            raise

    def _call(self, method: str, url: str, body: Any = None) -> Any:
        r = self.http.request(method, url, json=body)
        value = r.json()["value"]
        if r.status_code != 200:
            raise WebDriverError(f"{method} {url}: {value.get('error')}: {value.get('message')}")
        return value

    def cmd(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"{self.base}/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body: `return ...`) in the page."""
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def element(self, css: str) -> str:
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css: str) -> None:
        self.cmd("POST", f"/element/{self.element(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        """Replace the field's content with `text`, as typed keys."""
        element = self.element(css)
        self.cmd("POST", f"/element/{element}/clear", {})
        self.cmd("POST", f"/element/{element}/value", {"text": text})

    def text(self, css: str) -> str:
        return self.cmd("GET", f"/element/{self.element(css)}/text")

    def wait(self, script: str, timeout: float = 20.0, what: str = "") -> Any:
        """Poll `script` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g} s for {what or script}")
            time.sleep(0.05)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.cmd("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "session", None):
                self.cmd("DELETE", "")
        except (httpx.HTTPError, WebDriverError):
            pass
        finally:
            self.http.close()
            self._driver.terminate()
            try:
                self._driver.wait(10)
            except subprocess.TimeoutExpired:
                self._driver.kill()
            self._log.close()
