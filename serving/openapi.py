"""The endpoints' request and response schemas in /docs.json, written by msgspec.

BentoML documents an endpoint by its IO descriptors, pydantic models whose `model_json_schema`
it publishes and whose `model_validate_json` it hands a JSON body. The descriptors made here
answer the first with msgspec's JSON Schema of a Struct from serving/schemas.py and the second
with serving/decode.py: BentoML publishes exactly the definition that decodes the requests.

msgspec writes JSON Schema 2020-12; the document is OpenAPI 3.0, whose only difference that
matters here is null: `anyOf [X, {type: null}]` becomes X with `nullable: true` (BentoML also
flattens a top-level property's `anyOf` to its first member, which would drop the null).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import bentoml
import msgspec

from serving.schemas import EXAMPLES

REF_TEMPLATE = "#/components/schemas/{name}"
NULL = {"type": "null"}


class _Documented(bentoml.IODescriptor):
    """An IO descriptor standing for a Struct (see the module docstring); no pydantic fields."""

    struct: ClassVar[type]
    note: ClassVar[str]
    decode: ClassVar[Callable[[bytes], Any]]

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        (ref,), components = msgspec.json.schema_components([cls.struct], ref_template=REF_TEMPLATE)
        top = components.pop(ref["$ref"].rsplit("/", 1)[-1])
        top["description"] = f"{top.get('description', '')} {cls.note}".strip()
        top["example"] = EXAMPLES[cls.struct.__name__]
        return openapi30(top) | {"$defs": openapi30(components)}

    @classmethod
    def model_validate_json(cls, json_data: Any, **kwargs: Any) -> Any:
        return cls.decode(json_data)


def documented(
    struct: type, note: str = "", decode: Callable[[bytes], Any] | None = None
) -> type[bentoml.IODescriptor]:
    """The IO descriptor of a body of type `struct`, with its example from EXAMPLES; `note`
    extends its description.

    With `decode`, the endpoint receives what it returns (the Struct, or a refusal) as its
    one positional argument.
    """
    descriptor = type(struct.__name__, (_Documented,), {"__module__": __name__})
    descriptor.struct, descriptor.note = struct, note
    if decode is not None:
        descriptor.decode = staticmethod(decode)
        descriptor.__root_input__ = True  # BentoML: pass the decoded body as the argument
    return descriptor


def openapi30(schema: Any) -> Any:
    """msgspec's JSON Schema with each `anyOf [..., {type: null}]` as OpenAPI 3.0 `nullable`."""
    if isinstance(schema, list):
        return [openapi30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: openapi30(value) for key, value in schema.items()}
    options = out.get("anyOf")
    if options and NULL in options:
        rest = [option for option in options if option != NULL]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out |= rest[0]
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    return out
