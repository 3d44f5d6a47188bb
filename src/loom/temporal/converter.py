"""Payloads as loom's values are: JSON that keeps each object's key order.

Temporal's default JSON converter sorts keys, so a run's outputs (and a dict a
tool returns) would come back reordered; loom's results keep the order the
flow produced, as they do locally. Client and workers both connect with it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


class _OrderedJson(JSONPlainPayloadConverter):
    def to_payload(self, value: Any) -> Payload | None:
        data = json.dumps(value, cls=AdvancedJSONEncoder, separators=(",", ":"))
        return Payload(metadata={"encoding": self.encoding.encode()}, data=data.encode())


class LoomPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(*(
            _OrderedJson() if isinstance(each, JSONPlainPayloadConverter) else each
            for each in DefaultPayloadConverter.default_encoding_payload_converters
        ))


DATA_CONVERTER = dataclasses.replace(DataConverter.default,
                                     payload_converter_class=LoomPayloadConverter)


async def connect(target: str, namespace: str = "default") -> Client:
    """A client for ``HOST:PORT`` that encodes payloads as loom's values are."""
    return await Client.connect(target, namespace=namespace, data_converter=DATA_CONVERTER)
