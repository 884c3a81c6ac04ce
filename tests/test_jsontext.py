"""``jsontext.loads`` reads every text to what ``json.loads`` reads, or raises what it raises; the
store's JSON text is what ``jsontext.compact`` writes, so the export's writers take it as it is."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mayadeen.export.writers import CsvWriter, json_lines
from mayadeen.jsontext import compact, loads
from mayadeen.store.sqlite import stored_json
from tests.conftest import examples


@pytest.mark.parametrize(
    "text",
    [
        '{"url":"https://x/1","caption":"é \\u00e9 😀 \\ud83d\\ude00","n":[1,-2,null,true]}',
        '{"a":1,"b":2,"a":3}',  # the last of a repeated key, in the first one's place
        " [1] \n",
        "[18446744073709551616]",  # beyond 64 bits: orjson would make it a float
        "[-9223372036854775809]",  # 19 digits, below int64
        '{"id":"12345678901234567890"}',  # a long run of digits in a string: json reads it, the same
        "[1e400]",  # json: inf; orjson refuses
        "[NaN, -Infinity]",
        '["\\ud800"]',  # a lone surrogate
        '"\ud800"',
        "[1.5e308, -0.0, 1E+2]",
    ],
)
def test_loads_reads_what_json_reads(text):
    assert repr(loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ["[1,", "", "\ufeff[1]", '"\x00"', "[01]", "{} {}"])
def test_loads_refuses_what_json_refuses(text):
    with pytest.raises(json.JSONDecodeError) as ours:
        loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


# Any character a store can keep (a lone surrogate cannot be written as UTF-8), any integer (beyond
# 64 bits ``compact`` hands the value to the standard library).
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_STRUCTURED = st.lists(_VALUES, max_size=3) | st.dictionaries(_TEXT, _VALUES, max_size=3) | st.none()
_PROPERTY = settings(
    max_examples=examples(300), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@_PROPERTY
@given(_STRUCTURED)
@example([{"caption": '"\\\n\x00\x1f\x7f\u2028😀', "n": 2**70}])
def test_the_store_keeps_json_as_compact_writes_it(value):
    """The export puts the SQLite store's JSON text in its files as it is (``Dataset.encoded``): it
    must be the text ``compact`` writes for the same value."""
    stored = stored_json(value)
    assert stored == (None if value is None else compact(value).decode())
    assert stored is None or compact(loads(stored)).decode() == stored  # what the export wrote before


@_PROPERTY
@given(_VALUES, _STRUCTURED, _VALUES)
@example(2**70, ["a"], None)  # orjson refuses the record: the standard library writes it
@example("x", None, 2**63)
def test_a_json_line_with_values_given_as_json_text_is_the_line_of_the_values(before, value, after):
    columns = ("a", "b", "c")
    decoded = {"a": before, "b": value, "c": after}
    as_text = {"a": before, "b": stored_json(value), "c": after}
    assert json_lines([as_text], columns, frozenset({"b"})) == json_lines([decoded], columns) == [compact(decoded)]


@pytest.mark.parametrize("value", [None, [], ["=1", 'a "b", c'], {"url": "https://x/1", "caption": "\r\n@x"}])
def test_a_csv_cell_given_as_json_text_is_the_cell_of_the_value(tmp_path, value):
    columns = ("headline", "images")
    for name, record, encoded in (
        ("decoded.csv", {"headline": "=x", "images": value}, frozenset()),
        ("as-text.csv", {"headline": "=x", "images": stored_json(value)}, frozenset({"images"})),
    ):
        writer = CsvWriter(tmp_path, name, columns, encoded=encoded)
        writer.write([record], [])
        writer.close()
    assert (tmp_path / "as-text.csv").read_bytes() == (tmp_path / "decoded.csv").read_bytes()
    assert b"'=x" in (tmp_path / "decoded.csv").read_bytes()
