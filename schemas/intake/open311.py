"""Open311 GeoReport v2: the parameters of a new service request, validated strictly.

The spec sends them form-encoded (``application/x-www-form-urlencoded``); JSON with the same
names is accepted too. Field names are the spec's (``long``, not ``lon``). An empty value
counts as absent, as the spec's "Optional Arguments" rule says.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.platform.common import URL_PATTERN, Line, Text

Name = Annotated[Line, Field(max_length=100)]
# an e-mail address: no white space, no control character, one @ and a dotted domain
EMAIL_PATTERN = r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$"


class Open311Submission(BaseModel):
    """POST requests.{format}: everything but ``attribute[...]`` (we define no attributes)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    api_key: Annotated[Line, Field(max_length=2000)] | None = None
    jurisdiction_id: Annotated[Line, Field(max_length=200)] | None = None
    service_code: Annotated[Line, Field(max_length=40)] | None = None
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    long: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    address_string: Annotated[Line, Field(max_length=300)] | None = None
    address_id: Annotated[Line, Field(max_length=64)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN)] | None = None
    device_id: Annotated[Line, Field(max_length=64)] | None = None
    account_id: Annotated[Line, Field(max_length=64)] | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9+() -]{3,32}$")] | None = None
    description: Annotated[Text, Field(max_length=2000)] | None = None
    media_url: Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)] | None = None
