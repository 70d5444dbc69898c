"""`/openapi.json` as this app serves it: the limits and names of its settings and model filled in.

FastAPI builds the schema from the route and body models, which cannot know this process's
`SENTIMENT_MAX_TEXT_CHARS`, `SENTIMENT_MAX_BATCH_ITEMS`, the served model's labels or the OIP model
name. They are set here, so that a generated client (or schemathesis) sends only what the server
takes: `maxLength` on texts, `maxItems` on batches, `enum` for labels, outputs and the model name.
Built once per label set (a reload to a model with other labels rebuilds it).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.oip.routes import INPUT, OUTPUTS
from service.schemas import TEXT_SCHEMA
from service.state import ServiceState


def install_openapi(app: FastAPI, service: ServiceState) -> None:
    built: dict[tuple[str, ...], dict[str, Any]] = {}
    base: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not base:
            base.update(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        # every served model's labels (feedback on any of them), in order of appearance
        labels = tuple(dict.fromkeys(label for m in service.models.values() for label in m.predictor.labels))
        if labels not in built:
            built.clear()
            built[labels] = with_limits(copy.deepcopy(base), service, list(labels))
        return built[labels]

    app.openapi = openapi  # type: ignore[method-assign]


def with_limits(schema: dict[str, Any], service: ServiceState, labels: list[str]) -> dict[str, Any]:
    settings = service.settings
    for path in schema["paths"].values():  # an optional date-time: the format goes on its string branch
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                inner = parameter["schema"]
                if "format" in inner and "anyOf" in inner:
                    string = next(b for b in inner["anyOf"] if b.get("type") == "string")
                    string["format"] = inner.pop("format")
    components = schema["components"]["schemas"]
    components["SentimentRequest"]["properties"]["text"]["maxLength"] = settings.max_text_chars
    texts = components["BatchRequest"]["properties"]["texts"]
    texts["maxItems"] = settings.max_batch_items
    if labels:  # before the model is loaded the labels are not known
        components["FeedbackRequest"]["properties"]["label"]["enum"] = labels
    infer = schema["paths"]["/v2/models/{name}/infer"]["post"]
    for parameter in infer["parameters"]:
        if parameter["name"] == "name":
            parameter["schema"]["enum"] = list(settings.served_models())
    body = infer["requestBody"]["content"]["application/json"]["schema"]["properties"]
    inputs = body["inputs"]
    inputs.update(minItems=1, maxItems=1)
    tensor = inputs["items"]["properties"]
    tensor["name"]["enum"] = [INPUT]
    tensor["datatype"]["enum"] = ["BYTES"]
    # JSON data as the schema states it: a flat array of texts (nested per the shape, or binary with
    # `binary_data_size`, is taken too); the texts as v1 takes them.
    text = {"type": "string", **TEXT_SCHEMA, "maxLength": settings.max_text_chars}
    tensor["data"] = {
        "type": "array",
        "items": text,
        "minItems": 1,
        "maxItems": settings.max_batch_items,
        "description": tensor["data"].get("description", ""),
    }
    tensor["shape"].update(minItems=1, maxItems=2)
    tensor["shape"]["items"]["minimum"] = 0
    output = body["outputs"]["anyOf"][0]
    output.update(maxItems=len(OUTPUTS), uniqueItems=True)
    output["items"]["properties"]["name"]["enum"] = list(OUTPUTS)
    return schema
