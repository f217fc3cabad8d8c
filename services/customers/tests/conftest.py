import pytest

from customers.db import metadata as service_metadata
from customers.passwords import Passwords

# the cheapest parameters argon2 accepts: the tests check behaviour, not cost
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@pytest.fixture
def metadata():
    """The tables of the shared ``db``, ``any_db`` and ``postgres_db`` fixtures (kameng_common.testing)."""
    return service_metadata


@pytest.fixture
def argon2_parameters():
    return dict(CHEAP_ARGON2)


@pytest.fixture
def passwords(argon2_parameters):
    return Passwords(**argon2_parameters)
