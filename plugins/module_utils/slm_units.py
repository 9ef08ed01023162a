# -*- coding: utf-8 -*-
# Copyright: edgeai.slm_fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Units understood by the ``numeric`` check: families, aliases and conversion factors.

Each unit belongs to a family and converts to the family's base unit by a factor. Two units
compare only within one family (``144 minutes`` equals ``2.4 h``; ``100 km/h`` is a speed and is
never read as ``100 h``). Speed and area are known so that they are *not* misread, even though
the default suite never expects them.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

# family -> {canonical unit: (factor to base, [aliases as written in answers])}
_UNITS: Dict[str, Dict[str, Tuple[float, List[str]]]] = {
    "time": {
        "h": (1.0, ["h", "hr", "hrs", "hour", "hours"]),
        "min": (1.0 / 60, ["min", "mins", "minute", "minutes"]),
        "s": (1.0 / 3600, ["s", "sec", "secs", "second", "seconds"]),
        "day": (24.0, ["day", "days"]),
    },
    "length": {
        "mi": (1609.344, ["mi", "mile", "miles"]),
        "km": (1000.0, ["km", "kms", "kilometer", "kilometers", "kilometre", "kilometres"]),
        "m": (1.0, ["m", "meter", "meters", "metre", "metres"]),
        "cm": (0.01, ["cm", "centimeter", "centimeters", "centimetre", "centimetres"]),
    },
    "speed": {
        "km/h": (1.0, ["km/h", "kmh", "kph", "km/hr", "km per hour", "kilometers per hour",
                       "kilometres per hour"]),
        "mph": (1.609344, ["mph", "mi/h", "miles per hour", "mile per hour"]),
        "m/s": (3.6, ["m/s", "meters per second", "metres per second"]),
    },
    "area": {
        "cm2": (1.0, ["cm2", "cm^2", "cm²", "sq cm", "square cm", "square centimeters",
                      "square centimetres"]),
        "m2": (10000.0, ["m2", "m^2", "m²", "sq m", "square meters", "square metres"]),
    },
    "percent": {
        "%": (1.0, ["%", "percent", "per cent", "pct", "percentage points"]),
    },
    "currency_usd": {
        "USD": (1.0, ["USD", "US$", "$", "dollar", "dollars", "usd"]),
    },
    "currency_eur": {
        "EUR": (1.0, ["EUR", "€", "euro", "euros"]),
    },
}

# alias (lower case) -> (family, canonical)
ALIASES: Dict[str, Tuple[str, str]] = {}
for _family, _units in _UNITS.items():
    for _canon, (_factor, _aliases) in _units.items():
        for _alias in _aliases + [_canon]:
            ALIASES.setdefault(_alias.lower(), (_family, _canon))


def lookup(unit: Optional[str]) -> Optional[Tuple[str, str, float]]:
    """``(family, canonical, factor)`` for a unit as written, or None if unknown."""
    if unit is None:
        return None
    key = " ".join(unit.strip().split()).lower()
    hit = ALIASES.get(key)
    if hit is None:
        return None
    family, canon = hit
    return family, canon, _UNITS[family][canon][0]


def convert(value: float, from_unit: str, to_unit: str) -> Optional[float]:
    """Convert between two units of one family; None when the families differ."""
    a, b = lookup(from_unit), lookup(to_unit)
    if a is None or b is None or a[0] != b[0]:
        return None
    return value * a[2] / b[2]


def suffix_aliases() -> List[str]:
    """All aliases that may follow a number, longest first (for the extraction regex)."""
    out = [a for a in ALIASES if a not in ("$", "us$", "€")]
    return sorted(set(out), key=len, reverse=True)


def known_units() -> List[str]:
    """Canonical unit names, for error messages."""
    return [canon for units in _UNITS.values() for canon in units]
