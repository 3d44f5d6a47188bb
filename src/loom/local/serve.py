"""The local server's process: llama.cpp's server, with loom's chat format registered.

``python -m loom.local.serve ARGS`` takes ``python -m llama_cpp.server``'s arguments,
registers :mod:`loom.local.tools_format` (so ``--chat_format loom-tools`` names it)
and runs that server. When its stdin is a pipe (as :class:`loom.local.LocalLlm` starts
it) it also exits when that ends, which happens when loom is gone, however it went
(even SIGKILL): no orphaned server. Run by hand, it serves until stopped.
"""

from __future__ import annotations

import os
import runpy
import stat
import sys
import threading

from loom.local import tools_format


def _exit_when_stdin_ends() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    if stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        threading.Thread(target=_exit_when_stdin_ends, name="loom-local-stdin",
                         daemon=True).start()
    tools_format.register()
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
