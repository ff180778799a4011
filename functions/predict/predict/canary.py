"""The canary contract: the candidate parameter's value and the per-request traffic split.

Beside the serving alias (``/detector/dev/model-alias`` = ``2``, the MLflow ``champion``),
a second SSM parameter may name a *candidate* version and the share of requests it
answers, as JSON, or ``none`` when no canary runs::

    /detector/dev/model-candidate = {"version":"3","percent":10.0}
    /detector/dev/model-candidate = none

``python -m release canary start|promote|abort`` writes it together with the MLflow
``candidate`` alias; the predict function reads it like the alias (same TTL) and sends
each request to the candidate with probability ``percent / 100``.

Example:
    >>> route = CanaryRoute.from_parameter('{"version": "3", "percent": 10}')
    >>> route.takes(0.05), route.takes(0.5)
    (True, False)
    >>> CanaryRoute.from_parameter("none") is None
    True
"""

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

NO_VERSION = "none"
"""The value of the alias and of the candidate parameter when they name no version."""


class CanaryRoute(BaseModel):
    """A candidate version and the percentage of requests it answers.

    Attributes:
        version: registered model version of the candidate (not ``"none"``).
        percent: share of requests in (0, 100]; the champion answers the rest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    percent: float = Field(gt=0, le=100)

    @field_validator("version")
    @classmethod
    def _names_a_version(cls, value: str) -> str:
        if value == NO_VERSION:
            raise ValueError(f"{NO_VERSION!r} is not a model version")
        return value

    @classmethod
    def from_parameter(cls, value: str) -> "CanaryRoute | None":
        """Parse the candidate parameter's value; ``None`` for ``"none"`` (no canary).

        Raises:
            ValueError: neither ``"none"`` nor ``{"version": ..., "percent": ...}`` in range.
        """
        text = value.strip()
        if text == NO_VERSION:
            return None
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                for e in error.errors()
            )
            raise ValueError(
                f'expected "none" or {{"version": "<version>", "percent": <0-100>}}, got '
                f"{text!r} ({problems})"
            ) from None

    def to_parameter(self) -> str:
        """The parameter value, e.g. ``{"version":"3","percent":10.0}``."""
        return self.model_dump_json()

    def takes(self, draw: float) -> bool:
        """Whether the request whose ``draw`` (uniform in [0, 1)) this is goes to the candidate."""
        return draw * 100 < self.percent
