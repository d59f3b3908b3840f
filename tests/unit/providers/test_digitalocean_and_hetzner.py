"""DigitalOcean's and Hetzner's parsers at once: arbitrary and mutated input raises nothing
but the project's own errors (the other clouds': test_all_clouds.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError
from nm_cloud_setup.providers import digitalocean, hetzner
from tests.support.parsers import DO_MACS, HZ_MACS, do_doc, json_values, mutate, sample

PARSERS = [lambda t: digitalocean.parse_interfaces(t, DO_MACS),
           lambda t: digitalocean.parse_identity(t),
           lambda t: hetzner.parse_private_networks(t, HZ_MACS),
           lambda t: hetzner.parse_identity(t)]


@pytest.mark.parametrize("parse", PARSERS, ids=["do", "do-identity", "hetzner", "hz-identity"])
@settings(max_examples=300, deadline=None)
@given(body=st.text(max_size=200) | json_values.map(json.dumps))
def test_arbitrary_bodies_raise_only_project_errors(parse, body):
    try:
        parse(body)
    except CloudSetupError:
        pass


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_documents_raise_only_project_errors(data):
    import yaml

    body = json.dumps(mutate(do_doc(), data))
    hz = yaml.safe_dump(mutate(yaml.safe_load(sample("hetzner_private_networks.yaml")), data))
    for parse, text in ((PARSERS[0], body), (PARSERS[1], body), (PARSERS[2], hz)):
        try:
            parse(text)
        except CloudSetupError:
            pass
