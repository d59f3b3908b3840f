"""The test suite: unit/ (no root), e2e/ (root), project-level checks, and support/."""

import pytest

# The shared helpers' asserts report their values as a test's own do.
pytest.register_assert_rewrite("tests.support")
