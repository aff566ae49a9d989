"""Sizes are ASCII: a digit, unit or space from elsewhere in Unicode is a SpecError naming the field.

Python's ``\\d`` and ``int()`` take every Unicode decimal digit (``"６４"`` is 64),
and case-insensitive matching takes the Kelvin sign for ``k``; a limit must
not be set from text that no one reading it would take for that number.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironframe_py import Limits, SpecError, parse_size

NON_ASCII_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())
SIZE_FIELDS = st.sampled_from(["memory", "disk"])


@st.composite
def sizes_with_a_foreign_digit(draw: st.DrawFn) -> str:
    """A valid-looking size (``"64M"``, ``"1.5G"``, ...) with one or more digits made non-ASCII."""
    whole = draw(st.integers(min_value=1, max_value=10**6).map(str))
    fraction = draw(st.sampled_from(["", ".5", ".25"]))
    unit = draw(st.sampled_from(["", "K", "M", "G", "T", "k", "MiB", "GB"]))
    digits = list(whole + fraction)
    positions = [i for i, c in enumerate(digits) if c.isdigit()]
    for i in draw(st.lists(st.sampled_from(positions), min_size=1, unique=True)):
        digits[i] = draw(NON_ASCII_DIGITS)
    return "".join(digits) + unit


@pytest.mark.parametrize("text", ["６４M", "\u0666\u0664M", "1.\u0665G", "64\u212a", "64 M\u0130B",
                                  "\u200964M", "64M\u00a0"])
def test_known_non_ascii_sizes_are_rejected(text):
    with pytest.raises(SpecError) as info:
        Limits(memory=text)
    assert info.value.field == "limits.memory"


@given(SIZE_FIELDS, sizes_with_a_foreign_digit())
def test_a_non_ascii_digit_in_a_size_is_rejected_naming_the_field(field, text):
    with pytest.raises(SpecError) as info:
        Limits(**{field: text})
    assert info.value.field == f"limits.{field}"
    assert info.value.value == text


@given(st.text().filter(lambda text: not text.isascii()), st.sampled_from(["size", "--memory"]))
def test_any_non_ascii_size_text_is_a_spec_error(text, field):
    """Never accepted, and never another exception (the Kelvin sign used to raise KeyError)."""
    with pytest.raises(SpecError) as info:
        parse_size(text, field)
    assert info.value.field == field


def test_the_ascii_forms_still_parse():
    assert parse_size("64M") == 64 << 20
    assert parse_size(" 1.5 GiB ") == 3 << 29
    assert parse_size("2k") == 2048
    assert Limits(disk="100MB").disk == 100 << 20
