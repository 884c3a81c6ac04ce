"""The CMS's ``text/tawsiyat`` script: a JSON object with the post's id, type, dates and classes."""

from __future__ import annotations

from mayadeen.normalize.lenient_json import parse_json_lenient

SCRIPT_TYPE, SCRIPT_ID = "text/tawsiyat", "tawsiyat-metadata"


def read_tawsiyat(script_elements) -> dict:
    """The first tawsiyat script's object; ``{}`` when there is none or it is no JSON object."""
    for element in script_elements:
        script_type = (element.get("type") or "").lower()
        if (
            "ld+json" not in script_type
            and (script_type == SCRIPT_TYPE or element.get("id") == SCRIPT_ID)
            and element.text
        ):
            data = parse_json_lenient(element.text)
            return data if isinstance(data, dict) else {}
    return {}


def tawsiyat_classes(data: dict, key: str) -> list:
    """The values of its ``classes`` entries with this ``key`` (``writer``, ``tag``, ``category``...)."""
    classes = data.get("classes")
    if not isinstance(classes, list):
        return []
    return [c.get("value") for c in classes if isinstance(c, dict) and c.get("key") == key]
