"""The rules of identities and membership levels: pure Python, no I/O."""

import ipaddress
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from zxcvbn import zxcvbn

from kameng_common.errors import InvalidInput
from kameng_common.money import AGENT_LEVEL
from kameng_common.regions import REGION_PATTERN

# \Z, not $: "$" would let a trailing newline through
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,32}\Z")
PASSWORD_MIN_LENGTH = 8
# argon2 takes any length, but nobody types more; a cap keeps requests small
PASSWORD_MAX_LENGTH = 1024
# zxcvbn's scale: 0 (among the most common passwords) to 4; 3 resists an offline guess for long
PASSWORD_MIN_STRENGTH = 3
# zxcvbn's cost grows with the length; what follows 72 characters only adds strength
PASSWORD_STRENGTH_SCAN = 72

CUSTOMER = "customer"
STAFF = "staff"

ADMIN = "admin"
STAFF_ROLES = (ADMIN, "ops", "support", "finance", "auditor")

# The membership levels a shop starts with, lowest first, until ops configure their own:
# (name, the lifetime spend in fen of LEVEL_CURRENCY from which a customer holds it).
# Inventory prices products per level under these same names (level_prices).
# a table of levels: (name, threshold) pairs, lowest first
Levels = Sequence[tuple[str, int]]
DEFAULT_LEVELS: Levels = (("regular", 0), ("vip", 100_000), ("svip", 1_000_000))
# everyone's first level, also anonymous visitors' in inventory: it cannot be renamed
FIRST_LEVEL = "regular"
LEVEL_CURRENCY = "CNY"
LEVEL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")
MAX_LEVELS = 20


def username_key(username: str) -> str:
    """The form under which usernames are unique: "Alice" and "alice" are one name."""
    return username.lower()


def check_password_strength(password: str, username: str) -> None:
    """InvalidInput ``weak_password`` for a password that zxcvbn guesses too easily.

    Its dictionaries hold the most common passwords, names and words, and the
    username itself counts as known to an attacker.
    """
    estimate = zxcvbn(password[:PASSWORD_STRENGTH_SCAN], user_inputs=[username])
    if estimate["score"] < PASSWORD_MIN_STRENGTH:
        feedback = estimate["feedback"]
        advice = " ".join([feedback["warning"], *feedback["suggestions"]]).strip()
        raise InvalidInput(
            "the password is too easy to guess" + (f": {advice}" if advice else ""),
            code="weak_password",
        )


def counted_spend(total: int, currency: str) -> int:
    """What an order adds to the spend that levels are measured in; other currencies count as orders only."""
    return total if currency == LEVEL_CURRENCY else 0


def check_levels(levels: Levels) -> None:
    """``levels`` [(name, threshold)] as ops send them, or InvalidInput saying what is wrong."""
    if not 1 <= len(levels) <= MAX_LEVELS:
        raise InvalidInput(f"give 1 to {MAX_LEVELS} levels", code="invalid_levels")
    names = [name for name, _threshold in levels]
    if levels[0] != (FIRST_LEVEL, 0):
        raise InvalidInput(
            f"the first level must be {FIRST_LEVEL!r} with threshold 0: everyone starts there",
            code="invalid_levels",
        )
    for name in names:
        if not LEVEL_NAME_PATTERN.match(name) or name == AGENT_LEVEL:
            raise InvalidInput(
                f"a level name is 1 to 32 lower-case letters, digits or '_', not {AGENT_LEVEL!r}",
                code="invalid_levels",
            )
    if len(set(names)) != len(names):
        raise InvalidInput("level names must differ", code="invalid_levels")
    thresholds = [threshold for _name, threshold in levels]
    if any(later <= earlier for earlier, later in itertools.pairwise(thresholds)):
        raise InvalidInput("each level's threshold must be above the one before", code="invalid_levels")


def level_for_spend(levels: Levels, total_spent: int) -> str:
    """The highest of ``levels`` [(name, threshold)], lowest first, that ``total_spent`` reaches."""
    reached = FIRST_LEVEL
    for name, threshold in levels:
        if total_spent >= threshold:
            reached = name
    return reached


def level_after_spend(levels: Levels, current_level: str, total_spent: int) -> str:
    """The level a customer holds after reaching ``total_spent``; levels only go up.

    A level that ops have since removed is kept until the spend reaches a level above the first.
    """
    names = [name for name, _threshold in levels]
    reached = level_for_spend(levels, total_spent)
    current_rank = names.index(current_level) if current_level in names else 0
    return reached if names.index(reached) > current_rank else current_level


# --- RFM scores and tags ---------------------------------------------------------

# Each score is 1 plus how many of its bounds the customer reaches, so 1 to 5; all
# three are 0 for a customer with no delivered order.
# recency: days since the last delivered order, at most each bound
RECENCY_DAYS = (180, 90, 30, 7)
# frequency: delivered orders, at least each bound
FREQUENCY_ORDERS = (2, 5, 10, 20)
# monetary: spend in fen of LEVEL_CURRENCY less what refunds gave back, at least each bound
MONETARY_SPEND = (20_000, 100_000, 300_000, 1_000_000)
RFM = ("recency", "frequency", "monetary")
MAX_SCORE = 5

# a customer registered within this many days is ``new``
NEW_CUSTOMER_DAYS = 30


@dataclass(frozen=True)
class TagRule:
    """A tag the shop gives from the RFM scores: ``scores`` {score: (lowest, highest)} all hold."""

    name: str
    description: str
    scores: dict[str, tuple[int, int]] = field(default_factory=dict)
    registered_within_days: int | None = None


TAG_RULES = (
    TagRule(
        "new", f"registered in the last {NEW_CUSTOMER_DAYS} days", registered_within_days=NEW_CUSTOMER_DAYS
    ),
    TagRule("high_value", "monetary score 4 or 5: a large spend after refunds", {"monetary": (4, 5)}),
    TagRule(
        "loyal", "frequency 4 or 5 and an order in the last 90 days", {"frequency": (4, 5), "recency": (3, 5)}
    ),
    TagRule(
        "at_risk",
        "frequency 3 to 5 but no order for 90 to 180 days",
        {"frequency": (3, 5), "recency": (2, 2)},
    ),
    TagRule("dormant", "bought before, nothing for more than 180 days", {"recency": (1, 1)}),
)
COMPUTED_TAGS = tuple(rule.name for rule in TAG_RULES)
STAFF_TAG_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")


@dataclass(frozen=True)
class Activity:
    """What the scores are measured from: a customer's stats as of ``now``."""

    orders_count: int
    net_spend: int
    days_since_last_order: float | None
    days_since_registration: float


def rfm_scores(activity: Activity) -> dict[str, int]:
    """{recency, frequency, monetary}, each 1 to 5 (5 the best), or all 0 without a delivered order."""
    if activity.orders_count == 0 or activity.days_since_last_order is None:
        return dict.fromkeys(RFM, 0)
    return {
        "recency": 1 + sum(activity.days_since_last_order <= bound for bound in RECENCY_DAYS),
        "frequency": 1 + sum(activity.orders_count >= bound for bound in FREQUENCY_ORDERS),
        "monetary": 1 + sum(activity.net_spend >= bound for bound in MONETARY_SPEND),
    }


def computed_tags(activity: Activity) -> list[str]:
    """The names of TAG_RULES the customer meets, in the table's order."""
    scores = rfm_scores(activity)
    return [
        rule.name
        for rule in TAG_RULES
        if all(low <= scores[score] <= high for score, (low, high) in rule.scores.items())
        and (
            rule.registered_within_days is None
            or activity.days_since_registration <= rule.registered_within_days
        )
    ]


def tag_rule(name: str) -> TagRule | None:
    return next((rule for rule in TAG_RULES if rule.name == name), None)


def check_staff_tag(tag: str) -> None:
    if not STAFF_TAG_PATTERN.match(tag):
        raise InvalidInput(
            "a tag is 1 to 32 lower-case letters, digits, '_' or '-', beginning with a letter",
            code="invalid_tag",
        )
    if tag in COMPUTED_TAGS:
        raise InvalidInput(
            f"{tag!r} is computed from orders; staff cannot give or take it", code="tag_reserved"
        )


# --- segments: who a coupon is for -----------------------------------------------

# a segment is a tag (computed or given by staff) or this prefix and a region: "region:GD"
REGION_SEGMENT = "region:"
SEGMENT_MAX_LENGTH = 40


def normalise_segment(segment: str) -> str:
    """The segment as stored: a tag as it is, a region upper-case ("region: gd" is "region:GD")."""
    segment = segment.strip()
    if segment.lower().startswith(REGION_SEGMENT):
        return REGION_SEGMENT + segment[len(REGION_SEGMENT) :].strip().upper()
    return segment


def segment_region(segment: str) -> str | None:
    """The region a (normalised) region segment names; None for a tag."""
    return segment[len(REGION_SEGMENT) :] if segment.startswith(REGION_SEGMENT) else None


def is_segment(segment: str) -> bool:
    """Whether a normalised segment is a tag's name or "region:" and a region's code."""
    region = segment_region(segment)
    return bool(STAFF_TAG_PATTERN.match(segment) if region is None else REGION_PATTERN.match(region))


def segments_of(tags: Sequence[str], region: str | None) -> set[str]:
    """The segments a customer with these tags (computed and staff's) and region belongs to."""
    return set(tags) | (set() if region is None else {REGION_SEGMENT + region})


# --- agents, commissions and withdrawals -----------------------------------------

# an agent's place in the tree and a customer's line are paths of agent ids, root first
ROOT_PATH = "/"
INVITE_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
INVITE_CODE_LENGTH = 8
FULL_RATE_BP = 10_000
MAX_PLAN_DEPTH = 100
MAX_WITHDRAWAL = 10**12

# kinds of agent entries
COMMISSION = "commission"  # a rate of an order down the agent's line
MARKUP = "markup"  # the difference on a sale through the agent's shop
REVERSAL = "reversal"  # a refund taking back part of an earning
WITHDRAWAL = "withdrawal"  # asked for: moved out of available
WITHDRAWAL_RETURNED = "withdrawal_returned"  # a rejected withdrawal, back to available
EARNINGS = (COMMISSION, MARKUP)

REQUESTED, PAID, REJECTED = "requested", "paid", "rejected"
APPROVE, REJECT = "approve", "reject"


def agent_path(parent_path: str | None, agent_id: str) -> str:
    """The path of an agent placed under ``parent_path`` (None: at the top)."""
    return (parent_path or ROOT_PATH) + agent_id + ROOT_PATH


def agents_up_the_line(line: str | None) -> list[str]:
    """The agent ids of a line, closest first."""
    return [agent_id for agent_id in (line or "").split(ROOT_PATH) if agent_id][::-1]


def depth_below(path: str, line: str | None) -> int:
    """How far below the agent at ``path`` a customer with ``line`` is: 1 for one they invited."""
    return len(agents_up_the_line(line)) - len(agents_up_the_line(path)) + 1


def would_cycle(agent_id: str, new_parent_path: str) -> bool:
    """Whether placing the agent under that parent would put it beneath itself."""
    return f"{ROOT_PATH}{agent_id}{ROOT_PATH}" in new_parent_path


def check_plan(rates_bp: Sequence[int]) -> None:
    if not 1 <= len(rates_bp) <= MAX_PLAN_DEPTH:
        raise InvalidInput(f"give a rate for 1 to {MAX_PLAN_DEPTH} levels", code="invalid_commission_plan")
    if any(rate < 0 or rate > FULL_RATE_BP for rate in rates_bp):
        raise InvalidInput("each rate is 0 to 10000 basis points", code="invalid_commission_plan")
    if sum(rates_bp) > FULL_RATE_BP:
        raise InvalidInput(
            f"the rates add up to {sum(rates_bp)} basis points, over 100 %",
            code="commission_plan_over_100_percent",
        )


def commissions(line: str | None, rates_bp: Sequence[int], total: int) -> list[tuple[str, int, int]]:
    """[(agent id, depth, amount)] each agent up the buyer's line earns of ``total``; zero amounts left out.

    Rounded down, so that together they never exceed what the plan promises.
    """
    return [
        (agent_id, depth, total * rate // FULL_RATE_BP)
        for depth, (agent_id, rate) in enumerate(
            zip(agents_up_the_line(line), rates_bp, strict=False), start=1
        )
        if total * rate // FULL_RATE_BP > 0
    ]


def reversal(earned: int, already_reversed: int, refunded_so_far: int, order_total: int) -> int:
    """How much more of an earning to take back once ``refunded_so_far`` of the order is refunded.

    Proportional to the share refunded in all, so that partial refunds adding up
    to the whole take back the whole earning, whatever the rounding.
    """
    share = earned if refunded_so_far >= order_total else earned * refunded_so_far // order_total
    return max(share - already_reversed, 0)


def check_withdrawal(amount: int, available: int) -> None:
    if available < amount:
        raise InvalidInput(
            f"{amount} is more than the {max(available, 0)} available to withdraw",
            code="withdrawal_exceeds_available",
        )


# --- agents' shops -------------------------------------------------------------------

# lower-case letters, digits and inner hyphens: it is a path segment, /s/<slug>
SHOP_SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]\Z")
# a shop sells at most at twice the agent price
MAX_SHOP_MARKUP_BP = FULL_RATE_BP


def check_shop(slug: str, markup_bp: int) -> None:
    if not SHOP_SLUG_PATTERN.match(slug):
        raise InvalidInput(
            "a shop's slug is 3 to 32 lower-case letters, digits or inner hyphens", code="invalid_shop_slug"
        )
    if not 0 <= markup_bp <= MAX_SHOP_MARKUP_BP:
        raise InvalidInput(
            f"a shop's markup is 0 to {MAX_SHOP_MARKUP_BP} basis points over the agent price",
            code="invalid_shop_markup",
        )


def client_network(address: str | None) -> str | None:
    """The network a client address belongs to: its /24 (IPv4) or /48 (IPv6); None for no address.

    A sign-in reports this, not the address: enough to tell a new network from a known one.
    """
    try:
        ip = ipaddress.ip_address(address)  # type: ignore[arg-type]  # None is refused as ValueError too
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))
