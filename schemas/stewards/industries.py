"""Which case types each industry's stewards are sent to (issue 16).

The town's stewards come from its grids and from 8 industry teams (taxi drivers, hotel
and homestay staff, shop owners, restaurants and catering, security guards, cleaners,
tourism...). Anyone reports anything; for *dispatch* an industry steward is offered the
case types their trade covers (a taxi driver a blocked fire lane, not a smoke alarm in a
kitchen), beside the grid stewards (residents, retirees, and any industry not listed
here), who are offered every type. Skills still apply on top (``CaseType.skills``).

A case type missing from an industry's list is simply not offered to that industry's
stewards; a new catalog type therefore reaches grid stewards at once, industry stewards
once it is added here.
"""

from __future__ import annotations

from collections.abc import Mapping

_TRAFFIC = ("illegal_parking", "red_light_running", "fire_lane_blocked", "manhole_cover")
_LODGING = (
    "safety_hazard",
    "fire_lane_blocked",
    "smoke_alarm",
    "garbage",
    "neighbour_dispute",
    "pollution",
)
_FOOD = ("garbage", "pollution", "safety_hazard", "smoke_alarm", "street_vendor")
_TOURISM = (
    "street_vendor",
    "garbage",
    "illegal_parking",
    "safety_hazard",
    "neighbour_dispute",
    "pollution",
)

INDUSTRY_CASE_TYPES: Mapping[str, frozenset[str]] = {
    "taxi": frozenset((*_TRAFFIC, "street_lamp", "flooding")),
    "hotel": frozenset(_LODGING),
    "homestay": frozenset(_LODGING),
    "restaurant": frozenset(_FOOD),
    "catering": frozenset(_FOOD),
    "shop": frozenset(("street_vendor", "garbage", "safety_hazard", "neighbour_dispute")),
    "tourism": frozenset(_TOURISM),
    "security": frozenset((*_TRAFFIC[:1], *_LODGING[:3], "neighbour_dispute", "manhole_cover")),
    "cleaning": frozenset(("garbage", "pollution", "manhole_cover", "flooding")),
}


def covers(industry: str, case_type: str | None) -> bool:
    """May a steward of ``industry`` be offered a case of ``case_type``? Grid stewards
    (an industry not listed) and requests without a type (cases filed before) always."""
    if case_type is None:
        return True
    types = INDUSTRY_CASE_TYPES.get(industry)
    return types is None or case_type in types
