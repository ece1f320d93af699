"""The DuckDB warehouse. One process at a time may hold the file: assets that open it use pool ``duckdb``."""

from collections.abc import Iterator
from contextlib import closing, contextmanager

from dagster_duckdb import DuckDBResource
from duckdb import DuckDBPyConnection


class WarehouseResource(DuckDBResource):
    """``DuckDBResource`` whose connection is closed even when the body raises.

    dagster-duckdb 0.29 closes only on success, so a failed step kept the file locked in its process
    until garbage collection, and the next step in the same process could not open it.
    """

    @contextmanager
    def get_connection(self) -> Iterator[DuckDBPyConnection]:
        with super().get_connection() as conn, closing(conn):
            yield conn
