"""For the providers' parser tests: the recorded documents in tests/data, and arbitrary
and mutated JSON for the checks that bad input raises only the project's own errors."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

DATA = Path(__file__).resolve().parent.parent / "data"


def sample(name: str) -> str:
    return (DATA / name).read_text()


def _containers(inner):
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           _containers, max_leaves=20)


def mutate(doc, data):
    """Replace one randomly chosen subtree of ``doc`` with an arbitrary JSON value."""
    if not isinstance(doc, (dict, list)) or not doc or data.draw(st.integers(0, 5)) == 0:
        return data.draw(json_values)
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = data.draw(st.sampled_from(keys))
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[key] = mutate(doc[key], data)
    return copy
