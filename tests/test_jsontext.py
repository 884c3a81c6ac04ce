"""``jsontext.loads`` reads every text to what ``json.loads`` reads, or raises what it raises."""

from __future__ import annotations

import json

import pytest

from mayadeen.jsontext import loads


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
