from tests.patients.fixtures import charted  # noqa: F401  (shared fixture)
