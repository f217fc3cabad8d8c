"""A customer's region, as a proxy or CDN in front of the gateway names it (Kameng has no GeoIP).

The gateway reads it from a header at registration and customers stores it; both
hold it to one form: an ASCII code, upper-case, such as ``CN``, ``CN-GD`` or ``GD``.
"""

import re

REGION_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,15}\Z")
# what a proxy sends for a client it cannot place (Cloudflare's CF-IPCountry): no region
UNKNOWN_REGIONS = frozenset({"XX"})


def normalise_region(value: str | None) -> str | None:
    """``value`` as a region (" cn-gd" is CN-GD); None for none, an unknown one, or anything but
    1 to 16 ASCII letters, digits, '_' or '-' beginning with a letter or digit."""
    if value is None:
        return None
    region = value.strip()
    if not region.isascii():
        return None
    region = region.upper()
    return region if REGION_PATTERN.match(region) and region not in UNKNOWN_REGIONS else None
