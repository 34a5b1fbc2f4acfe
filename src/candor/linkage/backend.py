"""The one seam between candor's linkage and the database Splink runs its SQL on.

DuckDB, in memory, is the default: one machine, no server, fast enough for a city. Splink's
Spark API plugs in here for a country (``splink.backends.spark.SparkAPI``, given a
SparkSession); every other module takes a ``DatabaseAPI`` and never names a backend.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.splink_dataframe import SplinkDataFrame


def default_api() -> DatabaseAPISubClass:
    """A fresh in-memory DuckDB for one linkage run."""
    return DuckDBAPI()


def local_spark(cores: int = 2) -> Any:
    """A Spark session on this machine (``local[cores]``), set up as Splink's Spark backend
    needs: Splink's similarity functions (the JAR in its wheel) and a checkpoint directory.
    pyspark is imported here only: the DuckDB path never needs it."""
    from pyspark.sql import SparkSession  # noqa: PLC0415
    from splink.backends.spark import similarity_jar_location  # noqa: PLC0415

    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("candor-linkage")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(2 * cores))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="candor-spark-"))
    return session


def spark_api(session: Any | None = None) -> DatabaseAPISubClass:
    """Splink's Spark backend over ``session`` (a local one by default): for populations
    beyond one machine, given a cluster's session."""
    from splink.backends.spark import SparkAPI  # noqa: PLC0415

    return SparkAPI(  # type: ignore[no-untyped-call]
        spark_session=session if session is not None else local_spark()
    )


def register(api: DatabaseAPISubClass, tables: Sequence[pa.Table]) -> list[SplinkDataFrame]:
    """The prepared tables in ``api``, named records_1, records_2 … (the source_dataset of each
    record when several are linked)."""
    return [
        api.register(table, dataset_display_name=f"records_{i}")
        for i, table in enumerate(tables, start=1)
    ]


def linker(
    api: DatabaseAPISubClass, tables: Sequence[pa.Table], model: SettingsCreator | dict[str, Any]
) -> Linker:
    """A Splink linker over ``tables``: one for deduplication, several to link."""
    frames = register(api, tables)
    # log_level=None: Splink leaves logging as the application configured it.
    return Linker(frames[0] if len(frames) == 1 else frames, model, log_level=None)


def linker_over(frame: SplinkDataFrame, model: dict[str, Any]) -> Linker:
    """A linker over a table already registered (for ``predict_between`` and
    ``predict_within``, which take their tables as arguments)."""
    return Linker(frame, model, log_level=None)


def to_arrow(frame: SplinkDataFrame) -> pa.Table:
    """A Splink result as an Arrow table, column for column (Splink's own ``as_pyarrow_table``
    goes through Python lists)."""
    if isinstance(frame.db_api, DuckDBAPI):
        return frame.as_duckdbpyrelation().to_arrow_table()
    return frame.as_pyarrow_table()  # type: ignore[no-untyped-call]
