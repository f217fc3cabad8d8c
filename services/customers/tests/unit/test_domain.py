import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customers import domain
from kameng_common.errors import InvalidInput


@pytest.mark.parametrize("username", ["abc", "Alice_01", "a.b-c", "x" * 32])
def test_usernames_of_3_to_32_allowed_characters_are_valid(username):
    assert domain.USERNAME_PATTERN.match(username)


@pytest.mark.parametrize("username", ["ab", "x" * 33, "has space", "emoji🙂", "semi;colon", "alice\n", ""])
def test_other_usernames_are_invalid(username):
    assert not domain.USERNAME_PATTERN.match(username)


def test_usernames_differing_only_in_case_are_one_name():
    assert domain.username_key("Alice") == domain.username_key("aLICE") == "alice"


LEVELS = list(domain.DEFAULT_LEVELS)


@pytest.mark.parametrize(
    "total_spent, level",
    [
        (0, "regular"),
        (99_999, "regular"),
        (100_000, "vip"),
        (999_999, "vip"),
        (1_000_000, "svip"),
        (50_000_000, "svip"),
    ],
)
def test_level_follows_the_threshold_table(total_spent, level):
    assert domain.level_for_spend(LEVELS, total_spent) == level


def test_levels_only_go_up():
    assert domain.level_after_spend(LEVELS, "regular", 100_000) == "vip"
    assert domain.level_after_spend(LEVELS, "vip", 1_000_000) == "svip"
    assert domain.level_after_spend(LEVELS, "svip", 0) == "svip"
    assert domain.level_after_spend(LEVELS, "vip", 10) == "vip"


def test_a_level_no_longer_configured_is_kept_until_a_higher_one_is_reached():
    levels = [("regular", 0), ("gold", 500)]
    assert domain.level_after_spend(levels, "vip", 0) == "vip"
    assert domain.level_after_spend(levels, "vip", 500) == "gold"


@pytest.mark.parametrize(
    "levels",
    [
        [],
        [("vip", 0)],
        [("regular", 10)],
        [("regular", 0), ("vip", 0)],
        [("regular", 0), ("vip", 100), ("svip", 50)],
        [("regular", 0), ("vip", 100), ("vip", 200)],
        [("regular", 0), ("agent", 100)],
        [("regular", 0), ("Gold Card", 100)],
        [("regular", 0)] + [(f"l{n}", n + 1) for n in range(domain.MAX_LEVELS)],
    ],
)
def test_a_bad_level_table_is_refused(levels):
    with pytest.raises(InvalidInput) as refused:
        domain.check_levels(levels)
    assert refused.value.code == "invalid_levels"


def test_a_good_level_table_passes():
    domain.check_levels([("regular", 0), ("gold", 50_000), ("diamond_2", 5_000_000)])


def test_only_spend_in_the_level_currency_counts():
    assert domain.counted_spend(500, "CNY") == 500
    assert domain.counted_spend(500, "USD") == 0


@pytest.mark.parametrize(
    "address, network",
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("::ffff:203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("not an address", None),
        ("", None),
    ],
)
def test_a_client_address_is_reported_by_its_network(address, network):
    assert domain.client_network(address) == network


@pytest.mark.parametrize(
    "password, username",
    [("password123", "alice"), ("qwertyuiop", "alice"), ("alice2024!", "alice"), ("12345678", "bob")],
)
def test_common_and_guessable_passwords_are_weak(password, username):
    with pytest.raises(InvalidInput) as refused:
        domain.check_password_strength(password, username)

    assert refused.value.code == "weak_password"
    assert password not in refused.value.message


@pytest.mark.parametrize(
    "password", ["correct-horse-battery", "s3cret-pass-phrase", "x7#Lq9!vR2@m" + "a" * 1000]
)
def test_hard_to_guess_passwords_pass(password):
    domain.check_password_strength(password, "alice")


@given(password=st.text(min_size=8, max_size=300), username=st.text(min_size=1, max_size=32))
@settings(max_examples=200, deadline=None)
def test_any_password_is_judged_without_an_error(password, username):
    try:
        domain.check_password_strength(password, username)
    except InvalidInput as refused:
        assert refused.code == "weak_password"
        assert refused.message.startswith("the password is too easy to guess")
