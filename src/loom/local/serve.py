"""The local server's process: llama.cpp's server, with loom's chat format registered.

``python -m loom.local.serve ARGS`` takes ``python -m llama_cpp.server``'s arguments,
registers :mod:`loom.local.tools_format` (so ``--chat_format loom-tools`` names it)
and runs that server. It also exits when its stdin ends, which happens when loom is
gone, however it went (even SIGKILL): no orphaned server.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading

from loom.local import tools_format


def _exit_when_stdin_ends() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    threading.Thread(target=_exit_when_stdin_ends, name="loom-local-stdin", daemon=True).start()
    tools_format.register()
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
