"""Message transforms (26.1.2): rewrite an agent's messages before each LLM call.

Both summarization transforms cache their summaries in a datastore collection
whose entities must have the fields listed in ``cache_entity()``. When no
``datastore`` is given, an in-memory one with that collection is created; an
explicit ``null`` means no cache.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from loom.spec.component import Component
from loom.spec.datastores import Datastore, InMemoryCollectionDatastore
from loom.spec.field_rules import check_number
from loom.spec.llms import LlmConfig
from loom.spec.types import describe_type, is_castable

DEFAULT_DATASTORE_NAME = "default-inmemory-datastore"


class MessageTransform(Component):
    """Rewrites the message list an agent sends to its LLM."""

    abstract = True
    min_agentspec_version: ClassVar[str] = "26.1.2"
    default_collection_name: ClassVar[str] = ""
    # Cache entity fields: name -> JSON type.
    cache_fields: ClassVar[dict[str, str]] = {}

    @classmethod
    def cache_entity(cls) -> dict[str, Any]:
        """The JSON schema the cache collection's entities must accept."""
        return {
            "type": "object",
            "properties": {name: {"type": kind} for name, kind in cls.cache_fields.items()},
        }

    @model_validator(mode="before")
    @classmethod
    def _default_datastore(cls, data: Any) -> Any:
        # Absent datastore: an in-memory cache holding the collection this transform uses.
        if isinstance(data, dict) and "datastore" not in data:
            collection = data.get("cache_collection_name") or cls.default_collection_name
            datastore = InMemoryCollectionDatastore(
                name=DEFAULT_DATASTORE_NAME,
                datastore_schema={collection: cls.cache_entity()},
            )
            return {**data, "datastore": datastore}
        return data

    def _check_cache(
        self, datastore: Datastore | None, collection: str, max_size: Any, lifetime: Any
    ) -> None:
        check_number(
            self,
            "max_cache_size",
            max_size,
            minimum=0,
            exclusive=True,
            integer=True,
            allow_none=True,
        )
        check_number(
            self,
            "max_cache_lifetime",
            lifetime,
            minimum=0,
            exclusive=True,
            integer=True,
            allow_none=True,
        )
        if datastore is None:
            return
        entity = datastore.collection(collection)
        if entity is None:
            raise self.error(
                f"datastore '{datastore.name}' has no collection '{collection}' for the cache",
                hint=f"add '{collection}' to its datastore_schema or change cache_collection_name",
            )
        provided = entity.get("properties", {})
        for field, required in self.cache_entity()["properties"].items():
            if field not in provided:
                raise self.error(
                    f"cache collection '{collection}' of datastore '{datastore.name}' "
                    f"lacks the field '{field}'",
                    hint=f"its entities need {sorted(self.cache_fields)}",
                )
            if not is_castable(required, provided[field]):
                raise self.error(
                    f"field '{field}' of cache collection '{collection}' is "
                    f"{describe_type(provided[field])}, but the cache stores "
                    f"{describe_type(required)}",
                    hint=f"declare '{field}' as {describe_type(required)}",
                )


class MessageSummarizationTransform(MessageTransform):
    """Replaces every message longer than ``max_message_size`` by its summary."""

    default_collection_name: ClassVar[str] = "summarized_messages_cache"
    cache_fields: ClassVar[dict[str, str]] = {
        "cache_key": "string",
        "cache_content": "string",
        "created_at": "number",
        "last_used_at": "number",
    }

    llm: LlmConfig
    max_message_size: int = 20000
    summarization_instructions: str = (
        "Please make a summary of this message. Include relevant information and keep it "
        "short. Your response will replace the message, so just output the summary "
        "directly, no introduction needed."
    )
    summarized_message_template: str = "Summarized message: {{summary}}"
    max_cache_size: int | None = 10000
    max_cache_lifetime: int | None = 14400
    cache_collection_name: str = "summarized_messages_cache"
    datastore: Datastore | None = None

    def _check(self) -> None:
        super()._check()
        check_number(
            self, "max_message_size", self.max_message_size, minimum=0, exclusive=True, integer=True
        )
        self._check_cache(
            self.datastore, self.cache_collection_name, self.max_cache_size, self.max_cache_lifetime
        )


class ConversationSummarizationTransform(MessageTransform):
    """Summarizes the older part of a long conversation, keeping recent messages."""

    default_collection_name: ClassVar[str] = "summarized_conversations_cache"
    cache_fields: ClassVar[dict[str, str]] = {
        "cache_key": "string",
        "cache_content": "string",
        "prefix_size": "integer",
        "created_at": "number",
        "last_used_at": "number",
    }

    llm: LlmConfig
    max_num_messages: int | None = 50
    max_num_characters: int | None = None
    min_num_messages: int = 10
    summarization_instructions: str = (
        "Please make a summary of this conversation. Include relevant information and keep "
        "it short. Your response will replace the messages, so just output the summary "
        "directly, no introduction needed."
    )
    summarized_conversation_template: str = "Summarized conversation: {{summary}}"
    max_cache_size: int | None = 10000
    max_cache_lifetime: int | None = 14400
    cache_collection_name: str = "summarized_conversations_cache"
    datastore: Datastore | None = None

    def _check(self) -> None:
        super()._check()
        if (self.max_num_messages is None) == (self.max_num_characters is None):
            raise self.error(
                "exactly one of max_num_messages and max_num_characters must be set"
                + ("" if self.max_num_messages is None else ", both are"),
                hint="set max_num_messages (default 50) or max_num_characters, and null the other",
            )
        for field in ("max_num_messages", "max_num_characters", "min_num_messages"):
            check_number(
                self,
                field,
                getattr(self, field),
                minimum=0,
                exclusive=True,
                integer=True,
                allow_none=field != "min_num_messages",
            )
        if self.max_num_messages is not None and self.max_num_messages <= self.min_num_messages:
            raise self.error(
                f"max_num_messages ({self.max_num_messages}) must be greater than "
                f"min_num_messages ({self.min_num_messages})",
                hint="min_num_messages are the recent messages kept verbatim; raise "
                "max_num_messages or lower min_num_messages",
            )
        self._check_cache(
            self.datastore, self.cache_collection_name, self.max_cache_size, self.max_cache_lifetime
        )
