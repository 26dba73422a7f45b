"""The ledger's tables (SQLAlchemy Core): one definition for the ledger's SQLAlchemy queries and for the hot
statements :mod:`target_intercom.ledger_sql` sends to the driver itself."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

runs_table = sa.Table(
    "ledger_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("info", sa.Text),
    sa.Column("summary", sa.Text),
)

entities_table = sa.Table(
    "ledger_entities",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("source_key", sa.String(512), primary_key=True),
    sa.Column("intercom_id", sa.String(128)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("created_run_id", sa.String(64)),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("extra", sa.Text),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("ix_ledger_entities_seq", "seq", unique=True),
    sa.Index("ix_ledger_entities_created", "created_run_id", "seq"),
    sa.Index("ix_ledger_entities_status", "status", "kind", "seq"),
    sa.Index("ix_ledger_entities_intercom", "kind", "intercom_id"),
)

held_table = sa.Table(
    "ledger_held",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("source_key", sa.String(512), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Index("ix_ledger_held_kind_seq", "kind", "seq", unique=True),
    sa.Index("ix_ledger_held_seq", "seq"),
)

held_refs_table = sa.Table(
    "ledger_held_refs",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("source_key", sa.String(512), primary_key=True),
    sa.Column("parent_kind", sa.String(64), primary_key=True),
    sa.Column("parent_key", sa.String(512), primary_key=True),
    sa.Column("pos", sa.Integer, nullable=False),
    # "who waits for this parent": lets the target (and the planner) go from a written parent to its dependants.
    sa.Index("ix_ledger_held_refs_parent", "parent_kind", "parent_key"),
)

issues_table = sa.Table(
    "ledger_issues",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("first_run_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("source_key", sa.String(512), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("field", sa.String(255), nullable=False),  # "" = no field: keeps the dedupe key NULL-free
    sa.Column("detail", sa.Text),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("resolved_at", sa.String(40)),
    sa.Column("resolved", sa.Boolean, nullable=False),
    sa.Index("ix_ledger_issues_key", "kind", "source_key", "category", "resolved"),
    sa.Index("ix_ledger_issues_run", "run_id", "category", "id"),
)

# The live checks of the Intercom workspace (capabilities.py), newest last: the load uses the latest one for its
# workspace and map.
checks_table = sa.Table(
    "ledger_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(128), nullable=False),
    sa.Column("map_digest", sa.String(64), nullable=False),
    sa.Column("checked_at", sa.String(40), nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Index("ix_ledger_checks_key", "workspace", "map_digest", "id"),
)

# Named counters (seq allocators), and the schema version for future migrations.
meta_table = sa.Table(
    "ledger_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# What a run overwrote in records that existed before it (adopted contacts, matched companies, an earlier run's
# tickets...): one row per run and record, so a rollback of that run can put the values back (ledger_changes.py).
changes_table = sa.Table(
    "ledger_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # newest first = id descending
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("source_key", sa.String(512), nullable=False),
    sa.Column("intercom_id", sa.String(128), nullable=False),
    # the fields the run's requests changed, as Intercom had them before (request-shaped JSON)
    sa.Column("before", sa.Text, nullable=False),
    # the same fields as Intercom answered the run's last change (None: no answer came)
    sa.Column("after", sa.Text),
    # the ledger's own row before the run touched it (content_hash, extra, run_id; None: no row)
    sa.Column("entity", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),  # kept | restored
    sa.Column("restored_by", sa.String(64)),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("ix_ledger_changes_run", "run_id", "kind", "source_key", unique=True),
    sa.Index("ix_ledger_changes_record", "kind", "source_key", "id"),
)
