from tests.portal.conftest import lab_message  # noqa: F401  (shared fixture)
