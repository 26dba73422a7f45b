"""The PostgreSQL the ledger tests may use (``LEDGER_TEST_PG_URL``; ``.ci/run`` starts one and sets it).

Each test process gets a schema of its own, so parallel workers (``pytest -n``) never share the ledger's tables.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from target_intercom.ledger import metadata

SERVER_URL = os.environ.get("LEDGER_TEST_PG_URL")  # e.g. postgresql+psycopg://ledger:...@127.0.0.1:5432/ledger_test
SKIP_REASON = "set LEDGER_TEST_PG_URL to also run the ledger on PostgreSQL"


def empty_ledger_url() -> str:
    """A ledger URL on this process's schema (created if missing) with no ledger tables in it."""
    assert SERVER_URL, SKIP_REASON
    schema = "ledger_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    server = sa.create_engine(SERVER_URL)
    with server.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    server.dispose()
    url = sa.make_url(SERVER_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()
    return url.render_as_string(hide_password=False)
