"""Class-id specs (`--classes`): ranges and lists in, sorted ids out; a bad part is named."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trivision.data.classes import class_list, format_class_spec, parse_class_spec
from trivision.errors import TrivisionError


@pytest.mark.parametrize("spec, ids", [
    ("1-20", list(range(1, 21))),
    ("1,5,9-12", [1, 5, 9, 10, 11, 12]),
    (" 12 , 3-4 ,1 ", [1, 3, 4, 12]),
    ("1-3,2-5,5", [1, 2, 3, 4, 5]),
    ("7", [7]),
    ("4-4", [4]),
    ("196", [196]),
])
def test_good_specs(spec, ids):
    assert parse_class_spec(spec) == ids


@pytest.mark.parametrize("spec", ["all", "ALL", "", "  "])
def test_all_is_none(spec):
    assert parse_class_spec(spec) is None


@pytest.mark.parametrize("spec, part", [
    ("abc", "'abc' is not a class id"),
    ("1-", "'1-' is not a class id"),
    ("-3", "'-3' is not a class id"),
    ("1-2-3", "'1-2-3' is not a class id"),
    ("1,,2", "'' is not a class id"),
    ("1.5", "'1.5' is not a class id"),
    ("1-20,x7", "'x7' is not a class id"),
    ("5-2", "'5-2' is not a range of class ids"),
    ("0", "'0' is not a range of class ids (they start at 1)"),
    ("0-4", "'0-4' is not a range"),
])
def test_bad_specs_name_the_bad_part(spec, part):
    with pytest.raises(TrivisionError, match="--classes") as e:
        parse_class_spec(spec)
    assert part in str(e.value) and "\n" not in str(e.value)


def test_format_is_the_shortest_spec():
    assert format_class_spec([3, 1, 2, 7, 9, 10]) == "1-3,7,9-10"
    assert format_class_spec([5]) == "5"
    assert format_class_spec([]) == ""


@given(st.sets(st.integers(1, 300), min_size=1))
def test_format_then_parse_gives_the_ids_back(ids):
    assert parse_class_spec(format_class_spec(ids)) == sorted(ids)


def test_class_list_for_messages():
    assert class_list(["1", "2", "3", "10"]) == "1-3,10"
    assert class_list(["female", "male"]) == "female, male"
