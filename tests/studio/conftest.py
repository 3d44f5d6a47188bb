"""The studio in headless Chromium (Debian's, driven by Playwright; never a browser
Playwright downloads), against a real `loom serve` app on 127.0.0.1 with a token,
its LLM calls to loom's test LLM server. Every request of the page is routed: any
to another host than the server is refused and recorded, and a test fails if one
was tried."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cli.flows import chain
from loom.server import ServerConfig, create_app
from loom.spec import ClientTool, Flow, ServerTool, ToolNode
from loom.testing import FakeLlmServer, serve_asgi
from server.helpers import prop, tool_flow, two_asks, write_configs

CHROMIUM = Path(os.environ.get("LOOM_CHROMIUM", "/usr/bin/chromium"))
EXAMPLE = Path(__file__).parents[2] / "examples" / "parallel_marketing"
TOKEN = "studio-test-token"
SHOTS = Path(__file__).parents[2] / "docs" / "studio"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None


def _missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")  # Playwright's sync API holds an event loop: stop it after
def browser() -> Iterator[Browser]:
    why = _missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the studio's browser tests must run in CI: {why}")
        pytest.skip(why)
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                           args=["--no-sandbox", "--disable-gpu"])
        yield found
        found.close()


@dataclass
class Gate:
    """The `hold` tool waits on it; a test (or its end) opens it."""

    event: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)


def _tools(gate: Gate) -> dict[str, Any]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("studio_example_tools", EXAMPLE / "tools.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DELAY = 1.0  # the four branches overlap for long enough to be seen

    def hold(x: str) -> str:
        gate.started.set()
        gate.event.wait(20)
        return x + "!"

    def boom(x: str) -> str:
        raise ValueError(f"no way with {x}")

    def shout(x: str) -> str:
        return x.upper()

    names = ("get_current_time", "get_user_information", "get_user_last_purchases",
             "get_items_on_sale")
    return {**{name: getattr(module, name) for name in names}, "hold": hold, "boom": boom,
            "shout": shout}


def confirm_flow() -> Flow:
    """A ServerTool that asks before it runs (`requires_confirmation`)."""
    tool = ServerTool(name="shout", inputs=[prop("x")], outputs=[prop("y")],
                      requires_confirmation=True)
    return chain("confirm", ToolNode(name="shout", tool=tool), inputs=(prop("x"),),
                 outputs=(prop("y"),))


def client_flow() -> Flow:
    """A ClientTool: the run waits for its result, an object."""
    place = prop("place", "object")
    tool = ClientTool(name="locate", inputs=[prop("x")], outputs=[place])
    return chain("client", ToolNode(name="locate", tool=tool), inputs=(prop("x"),),
                 outputs=(place,))


def measure_flow() -> Flow:
    """A ClientTool of two declared outputs: its answer form has their fields."""
    tool = ClientTool(name="measure", inputs=[prop("x")],
                      outputs=[prop("width", "integer"), prop("unit", default="cm")])
    return chain("measure", ToolNode(name="measure", tool=tool), inputs=(prop("x"),),
                 outputs=(prop("width", "integer"), prop("unit")))


@dataclass
class Studio:
    url: str
    page: Page
    gate: Gate
    outside: list[str]
    tmp: Path

    def open(self, view: str = "") -> None:
        self.page.goto(self.url + "/")
        dialog = self.page.locator("#token-dialog")
        dialog.wait_for()
        self.page.fill("#token-input", TOKEN)
        self.page.click("#token-save")
        dialog.wait_for(state="detached")
        if view:
            self.page.goto(self.url + "/studio/#" + view)

    def shot(self, name: str, target: Any = None) -> Path:
        """A screenshot; into docs/studio/ when LOOM_STUDIO_SCREENSHOTS=1 (to refresh
        the README's pictures), else beside the test."""
        folder = SHOTS if os.environ.get("LOOM_STUDIO_SCREENSHOTS") == "1" else self.tmp
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        (target or self.page).screenshot(path=str(path))
        assert path.stat().st_size > 1000
        return path


@pytest.fixture
def studio(browser: Browser, tmp_path: Path) -> Iterator[Studio]:
    gate = Gate()
    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(EXAMPLE / "flow.json", configs / "parallel_marketing.json")
    write_configs(configs, two_asks=two_asks(),
                  hold=tool_flow("hold", "hold", inputs=[prop("x")], outputs=[prop("y")]),
                  boom=tool_flow("boom", "boom", inputs=[prop("x")], outputs=[prop("y")]),
                  confirm=confirm_flow(), client=client_flow(), measure=measure_flow())
    with FakeLlmServer() as llm:
        config = ServerConfig(directory=configs, tools=_tools(gate), tokens=[TOKEN],
                              store_url=f"sqlite:///{tmp_path}/server.sqlite3", llm_url=llm.url)
        with serve_asgi(create_app(config=config), lifespan="on") as url:
            context = browser.new_context(viewport={"width": 1440, "height": 960},
                                          accept_downloads=True)
            outside: list[str] = []

            def only_the_server(route: Any) -> None:
                if route.request.url.startswith(url + "/"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", only_the_server)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            # A request the page's Content-Security-Policy stopped never reaches the route.
            page.on("console", lambda message: outside.append(message.text)
                    if "Content Security Policy" in message.text else None)
            try:
                yield Studio(url, page, gate, outside, tmp_path)
            finally:
                gate.event.set()
                context.close()
            assert outside == [], f"the page tried to reach another host: {outside}"
            assert errors == [], f"the page threw: {errors}"
