"""What the proxies in front of the gateway tell of a client, believed as far as
``KAMENG_TRUSTED_PROXIES`` says: its address (ProxyFix, in ``app``) and its region."""

from flask import request

from kameng_common.regions import normalise_region
from kameng_gateway import metrics
from kameng_gateway.settings import Settings


def came_through_trusted_proxies(settings: Settings) -> bool:
    """Whether the request passed the proxies ``trusted_proxies`` counts: ProxyFix's own test before
    it takes the client's address from X-Forwarded-For (at least that many addresses in it)."""
    forwarded_for: str = request.environ.get("HTTP_X_FORWARDED_FOR") or ""
    return bool(forwarded_for) and 0 < settings.trusted_proxies <= len(forwarded_for.split(","))


def client_region(settings: Settings) -> str | None:
    """The client's region from the header ``region_header`` names, normalised; None when it is not
    set, not sent, sent by anyone but a trusted proxy (a client could name any region), or no code."""
    value = request.headers.get(settings.region_header) if settings.region_header else None
    if value is None:
        outcome, region = "absent", None
    elif not came_through_trusted_proxies(settings):
        outcome, region = "untrusted", None
    else:
        region = normalise_region(value)
        outcome = "invalid" if region is None else "known"
    metrics.REGISTRATION_REGIONS.labels(outcome).inc()
    return region
