"""Models shared by every resource: the model that answered, errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class TrainingData(BaseModel):
    """The Gold table version a model was trained on (re-readable by Delta time travel)."""

    table: str | None = Field(description="`layer/name` of the Gold table")
    version: int | None = Field(description="Delta version of that table")


class ModelRef(BaseModel):
    """The registered model version that produced an answer."""

    name: str = Field(description="Registered model name")
    version: str = Field(description="Registered model version")
    alias: Literal["champion", "challenger"] = Field(
        description="Which alias answered: `challenger` for canary traffic"
    )
    trained_on: TrainingData


class ErrorItem(BaseModel):
    """One problem with a request: where (`loc`), what (`type`) and a message.

    For a record the lake would quarantine, `type` is Silver's reason code (e.g.
    `invalid_cart_item`) and `loc` the field path, prefixed with the record's position when
    the body is a list.
    """

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error answer: no stack trace, the request id to quote to the operators."""

    detail: str | list[ErrorItem]
    request_id: str


# the answers of authentication (serving.auth), on every route that needs a key
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No API key, or one the service does not know"},
    403: {"model": ErrorResponse, "description": "The API key lacks the route's role"},
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Body or record count over the limit"},
    422: {"model": ErrorResponse, "description": "Invalid request (field-level details)"},
    503: {"model": ErrorResponse, "description": "Model or features not loaded yet"},
}
