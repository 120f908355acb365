"""What the tests share beyond `tests/conftest.py`: fixtures and helpers, a module per answer.

`tests/conftest.py` registers every module here as a pytest plugin, so a module's fixtures
exist exactly when the module does: the template renders each only for the answers it serves.
"""
