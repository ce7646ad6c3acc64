"""Inbound messages (dispatch → gateway) of dispatch-api.md, as validating pydantic models.

Decisions (documented here and in the generated JSON Schemas):

- **Unknown fields are ignored**, not rejected. The contract lets the gateway add fields, and
  a CAD upgrade that sends a field this gateway version does not know yet must still alert
  units. The price is that a misspelt optional field is silently ignored (its default
  applies); required fields are still required.
- **Types are strict JSON types**: an ISSI is a JSON integer, never ``"2040101"`` or
  ``2040101.0``; booleans are ``true``/``false``, never ``1``. A dispatch API that guesses
  what a malformed payload meant could alert the wrong unit.
- Models are frozen: a validated request cannot change on its way through the gateway.
- The engine, not these models, enforces the configured maximum text length and unit
  count (configuration, not contract); the models enforce the contract's limits.
"""

from __future__ import annotations

from typing import Annotated, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from protocols.dispatch.identifiers import DispatchId, Issi, StatusValue

KNOWN_ROLES: Final = frozenset({"ambulance", "first_responder", "doctor", "fire", "police"})
"""Unit roles the gateway gives a meaning to (policy checks); other roles are carried as text."""

MAX_UNITS: Final = 100
DEADLINE_DEFAULT_S: Final = 60
DEADLINE_MIN_S: Final = 5
DEADLINE_MAX_S: Final = 3600

_INBOUND_CONFIG: Final = ConfigDict(strict=True, frozen=True, extra="ignore")

Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class UnitRef(BaseModel):
    """One unit to alert: its ISSI and its free-text role."""

    model_config = _INBOUND_CONFIG

    issi: Issi
    role: Label | None = Field(
        default=None,
        description="Free text; known: ambulance, first_responder, doctor, fire, police.",
    )


class CalloutRequest(BaseModel):
    """``<root>/v1/callouts``: alert units to an incident.

    ``callout_id`` is the idempotency key. ``text`` may hold personal data: it goes over the
    radio path only. Use :attr:`wants_talkgroup` for the effective ``talkgroup`` choice.
    """

    model_config = _INBOUND_CONFIG

    callout_id: DispatchId = Field(description="Idempotency key of this callout.")
    incident_id: DispatchId = Field(description="Callouts of one incident share its talk group.")
    units: list[UnitRef] = Field(
        min_length=1, max_length=MAX_UNITS, description="1-100 units with distinct ISSIs."
    )
    text: str = Field(
        min_length=1,
        description="Callout text sent over TETRA only; may hold personal data.",
    )
    talkgroup: bool | None = Field(
        default=None,
        description="Create an incident talk group; absent or null: true when more than one unit.",
    )
    deadline_s: int = Field(
        default=DEADLINE_DEFAULT_S,
        ge=DEADLINE_MIN_S,
        le=DEADLINE_MAX_S,
        description="Seconds until an unreached unit is reported unreached.",
    )
    priority: Label | None = Field(
        default=None,
        description=(
            "Free label carried into events. A label the gateway lists as urgent"
            " ([callouts] urgent_priorities, by default 1A; any case) sends this callout"
            " to the radio ahead of the others waiting for it."
        ),
    )

    @field_validator("units")
    @classmethod
    def _distinct_issis(cls, units: list[UnitRef]) -> list[UnitRef]:
        first_index: dict[int, int] = {}
        for index, unit in enumerate(units):
            earlier = first_index.setdefault(unit.issi, index)
            if earlier != index:
                raise PydanticCustomError(
                    "duplicate_issi",
                    "[{index}].issi: must be distinct (repeats units[{first}].issi)",
                    {"index": index, "first": earlier},
                )
        return units

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, text: str) -> str:
        if text.strip() == "":
            raise PydanticCustomError("blank_text", "must not be blank")
        return text

    @property
    def wants_talkgroup(self) -> bool:
        """The effective ``talkgroup``: as given, else true when more than one unit."""
        if self.talkgroup is None:
            return len(self.units) > 1
        return self.talkgroup

    @property
    def issis(self) -> tuple[int, ...]:
        """The units' ISSIs, in request order."""
        return tuple(unit.issi for unit in self.units)


class IncidentClose(BaseModel):
    """``<root>/v1/incidents/<incident_id>/close``: ``{}`` or ``{"reason": "..."}``."""

    model_config = _INBOUND_CONFIG

    reason: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Why the incident ended (free text)."
    )


class UnitSendRequest(BaseModel):
    """``<root>/v1/units/<issi>/send``: a text or a status value to one unit.

    Exactly one of ``text`` and ``status`` is given. Answered on ``requests/<request_id>/events``.
    """

    model_config = _INBOUND_CONFIG

    request_id: DispatchId = Field(description="Idempotency key; names the events topic.")
    text: str | None = Field(default=None, min_length=1, description="SDS text to send.")
    status: StatusValue | None = Field(default=None, description="Status value to send.")

    @model_validator(mode="after")
    def _exactly_one_of_text_or_status(self) -> Self:
        if (self.text is None) == (self.status is None):
            raise PydanticCustomError(
                "text_xor_status", "exactly one of text or status must be given"
            )
        return self
