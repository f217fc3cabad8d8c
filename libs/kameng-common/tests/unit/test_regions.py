import pytest

from kameng_common.regions import normalise_region


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("GD", "GD"),
        (" cn-gd ", "CN-GD"),
        ("us", "US"),
        ("XX", None),
        ("", None),
        (None, None),
        ("GD, XX", None),
        ("广东", None),
        ("ß", None),
        ("-GD", None),
        ("A" * 17, None),
        ("GD\n", "GD"),
        ("G\nD", None),
    ],
)
def test_a_region_is_a_short_ascii_code_in_upper_case(value, region):
    assert normalise_region(value) == region
