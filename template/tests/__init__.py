"""The service's tests; `uv run pytest` runs them."""

import pytest

# tests/conftest.py imports helpers of tests/support/ before pytest loads them as its plugins:
# registered here, first, their asserts are rewritten to say what failed, as a test's are.
pytest.register_assert_rewrite("tests.support")
