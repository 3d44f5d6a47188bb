"""Shared helpers for the loom-vs-WayFlow benchmark (runtime-neutral).

What lives here:

* the shared benchmark inputs: ``manifest()``, ``scenario()``, ``config_text()``,
  the tool registries ``sync_tool_registry()`` / ``async_tool_registry()``;
* timing: ``time_runs()`` (``time.perf_counter``, warm-up, median) and ``Timing``;
* memory: ``run_child()`` runs a command in a fresh process and returns its
  peak RSS from ``os.wait4`` (that child only, nothing else is counted);
* the fake LLM: ``llm_server()`` makes sure an OpenAI-compatible server answers
  at the manifest's URL (an already-running one, else ``loom.testing.llm_server``,
  else the tiny stand-in below: ``python bench/common.py serve-llm``);
* reporting: ``README_WAYFLOW`` (the README's reference figures), ``fmt_*`` and
  ``print_table()`` (rich).

The shared configs live in ``$LOOM_BENCH_DIR`` (default ``/work/shared/bench``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

BENCH_DIR = Path(os.environ.get("LOOM_BENCH_DIR", "/work/shared/bench"))
CONFIG_DIR = BENCH_DIR / "configs"
CONFIG_LLM_URL = "http://127.0.0.1:18765"
"""The LLM URL written in the configs (``config_text(..., llm_url=...)`` rewrites it)."""

# --------------------------------------------------------------------------- inputs


@lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    """``configs/manifest.json`` as a dict (cached)."""
    return json.loads((CONFIG_DIR / "manifest.json").read_text())


def scenario(name: str) -> dict[str, Any]:
    """One scenario of the manifest, e.g. ``scenario("b_fanout_64")``."""
    return manifest()["scenarios"][name]


def llm_url() -> str:
    return str(manifest().get("fake_llm", {}).get("url", CONFIG_LLM_URL))


def llm_latency() -> float:
    return float(manifest().get("fake_llm", {}).get("latency_s", 0.1))


def config_path(config: str) -> Path:
    return CONFIG_DIR / config


def config_text(config: str, llm_url: str | None = None) -> str:
    """The JSON text of a config; ``llm_url`` replaces the configs' LLM URL if given."""
    text = config_path(config).read_text()
    if llm_url and llm_url.rstrip("/") != CONFIG_LLM_URL:
        text = text.replace(CONFIG_LLM_URL, llm_url.rstrip("/"))
    return text


@lru_cache(maxsize=1)
def tools_module() -> ModuleType:
    """``configs/tools.py`` imported under a private name (no clash with other ``tools``)."""
    path = CONFIG_DIR / manifest().get("tools", "tools.py")
    spec = importlib.util.spec_from_file_location("_loom_bench_config_tools", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sync_tool_registry() -> dict[str, Callable[..., Any]]:
    """Tool name -> the function from ``configs/tools.py`` (every public function there)."""
    module = tools_module()
    return {
        name: fn
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and fn.__module__ == module.__name__
    }


# ``async def`` twins of configs/tools.py: same names, arguments, results and
# sleep durations, but ``await asyncio.sleep`` instead of ``time.sleep``.


async def _a_get_user_information(username):
    await asyncio.sleep(0.2)
    return {"name": username.title(), "birthday": "1990-05-01"}


async def _a_get_current_time():
    await asyncio.sleep(0.2)
    return "2025-05-01T09:30:00"


async def _a_get_user_last_purchases(username):
    await asyncio.sleep(0.2)
    return [{"item": "tent"}, {"item": "lamp"}]


async def _a_get_items_on_sale():
    await asyncio.sleep(0.2)
    return [{"item": "sleeping bag"}, {"item": "kayak"}]


async def _a_sleep_100ms(x):
    await asyncio.sleep(0.1)
    return x


async def _a_inc(x):
    return x + 1


async def _a_trivial(x):
    return x * 2


_ASYNC_TWINS: dict[str, Callable[..., Any]] = {
    "get_user_information": _a_get_user_information,
    "get_current_time": _a_get_current_time,
    "get_user_last_purchases": _a_get_user_last_purchases,
    "get_items_on_sale": _a_get_items_on_sale,
    "sleep_100ms": _a_sleep_100ms,
    "inc": _a_inc,
    "trivial": _a_trivial,
}


def async_tool_registry() -> dict[str, Callable[..., Any]]:
    """Tool name -> an ``async def`` twin of the tool (asyncio.sleep instead of time.sleep)."""
    missing = set(sync_tool_registry()) - set(_ASYNC_TWINS)
    if missing:
        raise RuntimeError(f"configs/tools.py has tools without async twins: {sorted(missing)}")
    return dict(_ASYNC_TWINS)


def tool_registry(mode: str = "sync") -> dict[str, Callable[..., Any]]:
    """``"sync"`` or ``"async"`` registry."""
    if mode == "sync":
        return sync_tool_registry()
    if mode == "async":
        return async_tool_registry()
    raise ValueError(f"tool mode must be 'sync' or 'async', not {mode!r}")


# --------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Timing:
    """Wall times (s) of repeated runs; ``median_s`` is the headline figure."""

    samples: list[float] = field(default_factory=list)
    warmup: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return median(self.samples)

    @property
    def min_s(self) -> float:
        return min(self.samples)

    @property
    def max_s(self) -> float:
        return max(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median_s,
            "min_s": self.min_s,
            "max_s": self.max_s,
            "n": len(self.samples),
            "samples_s": list(self.samples),
            "warmup_s": list(self.warmup),
        }


def time_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call, measured with ``time.perf_counter``."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def time_runs(
    fn: Callable[[], Any],
    repeat: int = 5,
    warmup: int = 1,
    check: Callable[[Any], None] | None = None,
) -> Timing:
    """Call ``fn`` ``warmup`` + ``repeat`` times; ``check(result)`` runs outside the timing."""
    timing = Timing()
    for i in range(warmup + repeat):
        elapsed, result = time_once(fn)
        if check is not None:
            check(result)
        (timing.warmup if i < warmup else timing.samples).append(elapsed)
    return timing


# --------------------------------------------------------------------------- memory


def maxrss_mb(ru_maxrss: int) -> float:
    """``ru_maxrss`` to MB (Linux reports KiB, macOS bytes)."""
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def self_peak_rss_mb() -> float:
    """Peak RSS of the current process so far (MB)."""
    import resource

    return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@dataclass
class ChildResult:
    returncode: int | None
    wall_s: float
    peak_rss_mb: float | None
    """ru_maxrss of exactly this child, from ``os.wait4``."""
    stdout: str
    stderr: str
    timed_out: bool = False

    def last_json(self) -> Any:
        """The last stdout line that parses as JSON (children report that way), else None."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith(("{", "[")):
                with contextlib.suppress(ValueError):
                    return json.loads(line)
        return None


def run_child(
    argv: Sequence[str], timeout: float | None = None, env: dict[str, str] | None = None
) -> ChildResult:
    """Run ``argv`` in a fresh process; return its output, wall time and peak RSS.

    The peak comes from ``os.wait4(pid)``, so it is this child's own high-water
    mark, unaffected by the parent or by other children. On timeout the child is
    killed (by its pid) and ``timed_out`` is set.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env)
        deadline = None if timeout is None else start + timeout
        timed_out = False
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                timed_out = True
                proc.kill()
                pid, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it ourselves
        out.seek(0)
        err.seek(0)
        return ChildResult(
            returncode=proc.returncode,
            wall_s=wall,
            peak_rss_mb=maxrss_mb(rusage.ru_maxrss),
            stdout=out.read(),
            stderr=err.read(),
            timed_out=timed_out,
        )


# --------------------------------------------------------------------------- fake LLM


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _wait_port(host: str, port: int, proc: subprocess.Popen[Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if port_open(host, port):
            return True
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def llm_server(
    url: str | None = None, latency: float | None = None, prefer: str = "auto"
) -> Iterator[dict[str, Any]]:
    """Make sure a fake OpenAI-compatible LLM answers at ``url`` for the ``with`` body.

    Order: a server already listening there is used as is (its latency is
    whatever it was started with); else ``python -m loom.testing.llm_server``
    (if importable); else the stand-in ``python bench/common.py serve-llm``.
    ``prefer="standin"`` skips loom's server. A server started here runs in its
    own process (so it does not share the GIL with the runtime measured) and is
    stopped on exit. Yields ``{"kind", "url", "latency_s", "pid"}``.
    """
    url = (url or llm_url()).rstrip("/")
    latency = llm_latency() if latency is None else latency
    host, port = _host_port(url)
    if port_open(host, port):
        yield {"kind": "already running", "url": url, "latency_s": None, "pid": None}
        return
    candidates: list[tuple[str, list[str]]] = []
    if prefer != "standin" and importlib.util.find_spec("loom.testing.llm_server") is not None:
        candidates.append(
            (
                "loom.testing.llm_server",
                [
                    sys.executable,
                    "-m",
                    "loom.testing.llm_server",
                    "--port",
                    str(port),
                    "--latency",
                    str(latency),
                ],
            )
        )
    candidates.append(
        (
            "bench stand-in",
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "serve-llm",
                "--port",
                str(port),
                "--latency",
                str(latency),
            ],
        )
    )
    errors = []
    for kind, argv in candidates:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _wait_port(host, port, proc, timeout=20):
            try:
                yield {"kind": kind, "url": url, "latency_s": latency, "pid": proc.pid}
            finally:
                _stop(proc)
                if proc.stderr is not None:
                    proc.stderr.close()
            return
        _stop(proc)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        errors.append(f"{kind}: {stderr.strip()[-500:]}")
    raise RuntimeError("could not start a fake LLM server:\n" + "\n".join(errors))


def standin_reply(messages: Sequence[dict[str, Any]]) -> str:
    """The stand-in's answer: ``"ECHO:"`` + the last user message, whitespace collapsed, 80 chars.

    That is the format of the manifest's ``expected_last_agent_message``.
    """
    last = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            last = str(content or "")
            break
    return "ECHO:" + " ".join(last.split())[:80]


def serve_llm(port: int, latency: float) -> None:
    """Tiny threaded OpenAI-compatible stand-in (chat completions, non-streaming only)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(
                    200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                )
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"unsupported path {self.path}"}})
                return
            if latency > 0:
                time.sleep(latency)
            text = standin_reply(body.get("messages") or [])
            self._send(
                200,
                {
                    "id": "chatcmpl-standin",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake-model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    with Server(("127.0.0.1", port), Handler) as httpd:
        print(f"stand-in LLM server on http://127.0.0.1:{port}/v1 (latency {latency}s)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()


# --------------------------------------------------------------------------- reporting

README_WAYFLOW: dict[str, str] = {
    "seed": "336 ms",
    "fanout_4": "107 ms",
    "fanout_16": "121 ms",
    "fanout_64": "462 ms",
    "fanout_256": "1505 ms",
    "fanout_load_64": "1.3 s",
    "fanout_load_256": "14.5 s",
    "linear_50": "402 µs",
    "linear_500": "471 µs",
    "linear_500_async": "264–308 µs",
    "map_1000": "2.31 s",
    "parallel_map_1000": "2.58 s",
    "load_500": "1773 ms",
    "load_500_pyagentspec": "534 ms",
    "rss_100": "209 MB",
}
"""WayFlow figures quoted in the bench README (2 cores, Python 3.11, wayflowcore 26.3.1)."""


def fmt_s(seconds: float | None) -> str:
    """Seconds as ``"336 ms"`` / ``"14.5 s"``."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_us(us: float | None) -> str:
    return "—" if us is None else f"{us:.0f} µs"


def fmt_mb(mb: float | None) -> str:
    return "—" if mb is None else f"{mb:.0f} MB"


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None
) -> None:
    """Print a table with rich (plain text if rich is missing)."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(title)
        print(" | ".join(columns))
        for row in rows:
            print(" | ".join(str(c) for c in row))
        if caption:
            print(caption)
        return
    table = Table(title=title, caption=caption, caption_justify="left")
    for i, column in enumerate(columns):
        last = i == len(columns) - 1
        table.add_column(column, justify="left" if i == 0 or last else "right", overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    Console(width=max(160, Console().width)).print(table)


def dump_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=1, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return str(obj)


# --------------------------------------------------------------------------- CLI


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python bench/common.py")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve-llm", help="run the stand-in fake LLM server (foreground)")
    serve.add_argument("--port", type=int, default=_host_port(CONFIG_LLM_URL)[1])
    serve.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args(argv)
    if args.cmd == "serve-llm":
        serve_llm(args.port, args.latency)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
