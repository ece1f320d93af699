"""Where the delivery is, and the PostgreSQL target the tables are exported to when one is configured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from duckdb import DuckDBPyConnection
from pydantic import Field

from medicaid_assets.core.values import sql_string
from medicaid_assets.dagster_kit.lake import catalog_params, extension_file

ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ResdacDeliveryResource(dg.ConfigurableResource):
    """The folder ResDAC's files were put in (they arrive on disk or by secure transfer, not over public HTTP)."""

    input_dir: str = Field(description="folder holding FTS + .dat pairs and SAS files, any depth")

    @property
    def path(self) -> Path:
        return Path(self.input_dir)


class ResdacPostgresResource(dg.ConfigurableResource):
    """The PostgreSQL database the platform's users query; unset ``url`` = DuckDB only."""

    url: str | None = Field(default=None, description="postgresql://user@host:port/dbname (no password)")
    password: str | None = Field(default=None, repr=False, description="secret: give as dg.EnvVar")
    read_role: str | None = Field(default=None, description="role granted SELECT on every exported table")

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def grant_role(self) -> str | None:
        if self.read_role and not ROLE.match(self.read_role):
            raise ValueError(f"read role {self.read_role!r} is not a plain lower-case PostgreSQL role name")
        return self.read_role

    @contextmanager
    def attached(self, conn: DuckDBPyConnection, alias: str = "pg") -> Iterator[str]:
        """``conn`` with the database attached as ``alias`` (DuckDB's postgres extension, from its wheel)."""
        if not self.url:
            raise ValueError("no PostgreSQL target configured (MEDICAID_RESDAC_POSTGRES_URL)")
        try:
            params = catalog_params(self.url)
        except ValueError as error:
            raise ValueError(f"MEDICAID_RESDAC_POSTGRES_URL: {error}") from None
        path = extension_file("postgres_scanner")
        if path is None:
            raise RuntimeError("the duckdb-extension-postgres-scanner wheel is not installed")
        conn.execute(f"LOAD {sql_string(str(path))}")
        if self.password:
            conn.execute(f"CREATE OR REPLACE TEMPORARY SECRET (TYPE postgres, PASSWORD {sql_string(self.password)})")
        conn.execute(f"ATTACH {sql_string(params)} AS {alias} (TYPE postgres)")
        try:
            yield alias
        finally:
            conn.execute(f"DETACH {alias}")
