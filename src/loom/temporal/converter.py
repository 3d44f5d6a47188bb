"""Payloads as loom's values are: JSON that keeps each object's key order.

Temporal's default JSON converter sorts keys, so a run's outputs (and a dict a
tool returns) would come back reordered; loom's results keep the order the
flow produced, as they do locally. Client and workers both connect with it, and
with the claim-check codec (:mod:`loom.temporal.claim_check`) for large values.
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

from loom.temporal.claim_check import THRESHOLD, ClaimCheckCodec, ClaimCheckStore


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


def data_converter(claim_check: ClaimCheckStore | None = None,
                   threshold: int = THRESHOLD) -> DataConverter:
    """loom's converter, large payloads going to ``claim_check`` (with none, a
    reference met in a history says which store this process lacks)."""
    return dataclasses.replace(DATA_CONVERTER,
                               payload_codec=ClaimCheckCodec(claim_check, threshold))


async def connect(target: str, namespace: str = "default", *,
                  claim_check: ClaimCheckStore | None = None) -> Client:
    """A client for ``HOST:PORT`` that encodes payloads as loom's values are."""
    return await Client.connect(target, namespace=namespace,
                                data_converter=data_converter(claim_check))
