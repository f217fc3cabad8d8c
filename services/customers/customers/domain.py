"""The rules of identities and membership levels: pure Python, no I/O."""

import re

# \Z, not $: "$" would let a trailing newline through
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,32}\Z")
PASSWORD_MIN_LENGTH = 8
# argon2 takes any length, but nobody types more; a cap keeps requests small
PASSWORD_MAX_LENGTH = 1024

CUSTOMER = "customer"
STAFF = "staff"

ADMIN = "admin"
STAFF_ROLES = (ADMIN, "ops", "support", "finance", "auditor")

# Lowest first. Inventory prices products per level under these same names
# (level_prices), so renaming one here means renaming it there too.
LEVELS = ("regular", "vip", "svip")
FIRST_LEVEL = LEVELS[0]
# the lifetime spend (fen of LEVEL_CURRENCY) from which a customer holds each level
LEVEL_THRESHOLDS = {
    "regular": 0,
    "vip": 100_000,
    "svip": 1_000_000,
}
LEVEL_CURRENCY = "CNY"


def username_key(username):
    """The form under which usernames are unique: "Alice" and "alice" are one name."""
    return username.lower()


def counted_spend(total, currency):
    """What an order adds to the spend that levels are measured in; other currencies count as orders only."""
    return total if currency == LEVEL_CURRENCY else 0


def level_for_spend(total_spent):
    return max(
        (level for level, threshold in LEVEL_THRESHOLDS.items() if total_spent >= threshold), key=LEVELS.index
    )


def level_after_spend(current_level, total_spent):
    """The level a customer holds after reaching ``total_spent``; levels only go up."""
    return max(current_level, level_for_spend(total_spent), key=LEVELS.index)
