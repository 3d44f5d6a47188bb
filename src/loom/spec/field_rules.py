"""Rules for fields that several component families share.

Plain nested objects (RetryPolicy, generation parameters, MCP/A2A session
parameters, OAuth settings) stay the author's dicts, so they serialize back as
written; these helpers check them, raising SpecError naming their component.
``late_field_gates`` makes a field newer than its component type require that
version once it holds something other than its default.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from loom.spec.component import Component
from loom.spec.retry_policy import check_retry_policy as check_policy
from loom.spec.templates import placeholders_in


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_number(
    component: Component,
    where: str,
    value: Any,
    *,
    minimum: float | None = None,
    exclusive: bool = False,
    integer: bool = False,
    allow_none: bool = False,
) -> None:
    """Check that ``value`` is a number (or an integer) within a lower bound."""
    if value is None and allow_none:
        return
    kind = "an integer" if integer else "a number"
    if not (_is_integer(value) if integer else _is_number(value)):
        raise component.error(
            f"{where} must be {kind}{' or null' if allow_none else ''}, got {value!r}",
            hint=f"write {where} as {kind}",
        )
    if minimum is None:
        return
    if (exclusive and value <= minimum) or (not exclusive and value < minimum):
        bound = f"greater than {minimum}" if exclusive else f"at least {minimum}"
        raise component.error(
            f"{where} must be {bound}, got {value!r}", hint=f"use a value {bound}"
        )


def check_retry_policy(
    component: Component, policy: Mapping[str, Any] | None, field: str = "retry_policy"
) -> None:
    """Check a RetryPolicy object (see :mod:`loom.spec.retry_policy`)."""
    if policy is not None:
        check_policy(policy, field, component.ref)


# --- other plain objects -------------------------------------------------------

GENERATION_PARAMETER_TYPES: dict[str, str] = {
    "max_tokens": "integer",
    "temperature": "number",
    "top_p": "number",
}


def check_generation_parameters(component: Component, params: Mapping[str, Any] | None) -> None:
    """LlmGenerationConfig: known keys typed (null allowed), any other key kept."""
    for key, kind in GENERATION_PARAMETER_TYPES.items():
        if params is not None and key in params:
            check_number(
                component,
                f"default_generation_parameters.{key}",
                params[key],
                integer=kind == "integer",
                allow_none=True,
            )


def check_plain_object(
    component: Component,
    field: str,
    value: Mapping[str, Any] | None,
    *,
    required: Collection[str] = (),
    allowed: Collection[str] | None = None,
    strings: Iterable[str] = (),
) -> None:
    """A plain nested object: required keys present, no unknown keys, string-valued keys."""
    if value is None:
        return
    missing = [key for key in required if value.get(key) is None]
    if missing:
        raise component.error(f"{field} needs {missing}", hint=f"add {missing} to {field}")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise component.error(
                f"{field} has unknown key(s) {unknown}",
                hint=f"{field} accepts only {sorted(allowed)}",
            )
    for key in strings:
        if value.get(key) is not None and not isinstance(value[key], str):
            raise component.error(
                f"{field}.{key} must be a string, got {value[key]!r}", hint=f"quote {field}.{key}"
            )


def check_choice(
    component: Component, field: str, value: Any, choices: Collection[Any], allow_none: bool = False
) -> None:
    """An enumerated value, with the allowed ones in the hint."""
    if value is None and allow_none:
        return
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices) + (" or null" if allow_none else "")
        raise component.error(f"{field} {value!r} is not allowed", hint=f"use one of {listed}")


def check_fixed(component: Component, fixed: Mapping[str, Any]) -> None:
    """Fields implied by the component type: null becomes the constant, anything else fails."""
    for field, constant in fixed.items():
        value = getattr(component, field)
        if value is None:
            setattr(component, field, constant)
        elif value != constant:
            raise component.error(
                f"{field} of a {component.component_type} is always {constant!r}, got {value!r}",
                hint=f"remove '{field}' (it is implied by the component type) or use another "
                "LLM configuration type",
            )


def check_disjoint_headers(
    component: Component, headers: Mapping[str, Any] | None, sensitive: Mapping[str, Any] | None
) -> None:
    shared = sorted(set(headers or {}) & set(sensitive or {}))
    if shared:
        raise component.error(
            f"headers {shared} appear in both 'headers' and 'sensitive_headers'",
            hint="keep each header in only one of the two (secrets in 'sensitive_headers')",
        )


def drop_implied(data: Any, implied: Collection[str], fields: Collection[str]) -> Any:
    """Remove implied keys that are not fields from constructor input."""
    if isinstance(data, dict) and any(key in data and key not in fields for key in implied):
        return {key: value for key, value in data.items() if key in fields or key not in implied}
    return data


# --- version gates --------------------------------------------------------------

# Fields where an empty value means something else than null.
_EMPTY_IS_MEANINGFUL = frozenset({"retry_policy", "url_allow_list"})
_EMPTIES: tuple[Any, ...] = (None, {}, [])


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list)) and not value)


def _at_default(field: str, value: Any, default: Any) -> bool:
    if value is default or (
        isinstance(value, bool) == isinstance(default, bool) and value == default
    ):
        return True
    return field not in _EMPTY_IS_MEANINGFUL and _is_empty(value) and _is_empty(default)


def feature_name(component: Component, field: str, value: Any) -> str:
    """A readable name for 'this field holds this value', never showing secrets."""
    where = f"{component.component_type}.{field}"
    if isinstance(value, bool):
        return f"{where}={'true' if value else 'false'}"
    if field in component.sensitive_fields:
        return f"{where} set"
    if isinstance(value, str):
        return f"{where}={value!r}"
    if isinstance(value, list) and value and field not in _EMPTY_IS_MEANINGFUL:
        return f"non-empty {where}"
    return f"{where} set"


def late_field_gates(component: Component, skip: Collection[str] = ()) -> list[tuple[str, str]]:
    """(version, feature) for every field newer than the type that is not at its default."""
    found: list[tuple[str, str]] = []
    fields = type(component).model_fields
    for field, version in type(component).field_versions.items():
        if field in skip or field not in fields:
            continue
        value = getattr(component, field)
        default = fields[field].get_default(call_default_factory=True)
        if not _at_default(field, value, default):
            found.append((version, feature_name(component, field, value)))
    return found


def request_placeholders(component: Any) -> list[str]:
    """Placeholders of an HTTP request template (ApiNode, RemoteTool).

    ``sensitive_headers`` are never templated: a secret must not depend on inputs.
    """
    return placeholders_in(
        [
            component.url,
            component.http_method,
            component.api_spec_uri,
            component.data,
            component.query_params,
            component.headers,
        ]
    )
