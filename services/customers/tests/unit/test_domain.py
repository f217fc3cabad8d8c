import pytest

from customers import domain


@pytest.mark.parametrize("username", ["abc", "Alice_01", "a.b-c", "x" * 32])
def test_usernames_of_3_to_32_allowed_characters_are_valid(username):
    assert domain.USERNAME_PATTERN.match(username)


@pytest.mark.parametrize("username", ["ab", "x" * 33, "has space", "emoji🙂", "semi;colon", "alice\n", ""])
def test_other_usernames_are_invalid(username):
    assert not domain.USERNAME_PATTERN.match(username)


def test_usernames_differing_only_in_case_are_one_name():
    assert domain.username_key("Alice") == domain.username_key("aLICE") == "alice"


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
    assert domain.level_for_spend(total_spent) == level


def test_levels_only_go_up():
    assert domain.level_after_spend("regular", 100_000) == "vip"
    assert domain.level_after_spend("vip", 1_000_000) == "svip"
    assert domain.level_after_spend("svip", 0) == "svip"
    assert domain.level_after_spend("vip", 10) == "vip"


def test_every_level_has_a_threshold_and_they_rise_with_the_level():
    thresholds = [domain.LEVEL_THRESHOLDS[level] for level in domain.LEVELS]
    assert thresholds == sorted(thresholds) and thresholds[0] == 0
    assert domain.FIRST_LEVEL == "regular"


def test_only_spend_in_the_level_currency_counts():
    assert domain.counted_spend(500, "CNY") == 500
    assert domain.counted_spend(500, "USD") == 0
