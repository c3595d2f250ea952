"""The Azure SQL migration parses as T-SQL, statement by statement (sqlglot, offline)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from imagemeta import db
from imagemeta.store import INSERT_SQL

SEED = {"Id", "FileName", "FileSizeKB", "Width", "Height", "Format", "UploadedOn"}


def test_every_tsql_statement_parses_without_fallbacks() -> None:
    migrations = db.load_migrations("tsql")
    assert migrations, "no T-SQL migrations found"
    for m in migrations:
        for statement in m.statements:
            tree = sqlglot.parse_one(statement, read="tsql")
            assert not list(tree.find_all(exp.Command)), f"{m.version}: unparsed: {statement[:80]}"


def test_table_has_the_seed_columns_and_the_idempotency_key() -> None:
    create = sqlglot.parse_one(db.load_migrations("tsql")[0].statements[0], read="tsql")
    cols = {c.name: c.args["kind"].sql("tsql") for c in create.find_all(exp.ColumnDef)}
    assert set(cols) >= SEED
    assert (
        cols["FileSizeKB"] == cols["Width"] == cols["Height"] == "INTEGER" or cols["Width"] == "INT"
    )
    assert cols["UploadedOn"] == "DATETIME2"
    assert cols["FileName"].startswith("NVARCHAR")
    unique = [s for s in db.load_migrations("tsql")[0].statements if "UNIQUE INDEX" in s]
    assert unique and "FileNameHash" in unique[0] and "BlobETag" in unique[0]


def test_sqlite_schema_mirrors_the_tsql_columns() -> None:
    def columns(dialect: str) -> set[str]:
        stmt = db.load_migrations(dialect)[0].statements[0]
        return {c.name for c in sqlglot.parse_one(stmt, read=dialect).find_all(exp.ColumnDef)}

    assert columns("tsql") == columns("sqlite")


def test_the_insert_is_parameterised_and_valid_tsql() -> None:
    tree = sqlglot.parse_one(INSERT_SQL, read="tsql")
    assert isinstance(tree, exp.Insert)
    assert INSERT_SQL.count("?") == 15
    assert "'" not in INSERT_SQL  # no literals spliced in
