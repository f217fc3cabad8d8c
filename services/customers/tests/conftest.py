import pytest

from customers.db import metadata
from customers.passwords import Passwords
from kameng_common.db import Database

# the cheapest parameters argon2 accepts: the tests check behaviour, not cost
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@pytest.fixture
def db():
    database = Database("sqlite://", metadata)
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def argon2_parameters():
    return dict(CHEAP_ARGON2)


@pytest.fixture
def passwords(argon2_parameters):
    return Passwords(**argon2_parameters)
