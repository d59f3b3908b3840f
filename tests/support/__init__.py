"""Helpers shared by the tests, each in one place (the fixtures are in the conftest.py files)."""
