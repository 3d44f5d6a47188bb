"""Fake OpenAI-compatible LLM server: ``python -m loom.testing.llm_server``.

Runs in the foreground on 127.0.0.1 and prints the base URL to use, e.g.
``LOOM_LLM_URL=http://127.0.0.1:18765/v1``. Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from loom.testing.fake_server import (
    HOST,
    MAX_CONCURRENCY,
    FakeLlmServer,
    bind_socket,
    make_uvicorn_server,
    raise_open_file_limit,
)
from loom.testing.fake_state import FakeLlmState

__all__ = ["FakeLlmServer", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loom.testing.llm_server",
        description="Serve deterministic fake chat completions on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--model", action="append", help="model id listed by /v1/models")
    parser.add_argument("--max-concurrency", type=int, default=MAX_CONCURRENCY)
    args = parser.parse_args(argv)

    raise_open_file_limit()
    # Nobody can read the history of a foreground server: keep none.
    models = tuple(args.model or ["fake-model"])
    state = FakeLlmState(latency=args.latency, models=models, keep_records=False)
    sock = bind_socket(args.port)
    port = sock.getsockname()[1]
    server = make_uvicorn_server(state, args.max_concurrency)
    print(f"fake LLM server listening on http://{HOST}:{port}/v1", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
