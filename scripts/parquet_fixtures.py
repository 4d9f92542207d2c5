"""Writes the Parquet fixtures of crates/ingest/tests/data with pyarrow, the way pandas, Spark
and BigQuery exports write them: nanosecond and INT96 timestamps, integer ids, dictionary-encoded
text, decimals, lists, nulls, snappy and zstd. The files are committed; run this only to change
them (`python3 -m venv v && v/bin/pip install pyarrow && v/bin/python scripts/parquet_fixtures.py`).
"""
import datetime as dt
import decimal
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/ingest/tests/data"
UTC = dt.timezone.utc


def ts(s):
    return dt.datetime.fromtimestamp(s, UTC)


# Events as pandas writes them: int64 user ids, text items, ns timestamps, float64 values with
# nulls, a dictionary-encoded type column. Row 5 has a null user, row 6 an unknown type, row 7 a
# NaN value, row 8 a time in the year 2200; rows 9 and 10 are the same event (a duplicate).
events = pa.table(
    {
        "user_id": pa.array([1, 2, 2, 3, None, 4, 5, 6, 7, 7], pa.int64()),
        "item_id": ["a", "b", "c", "a", "b", "c", "a", "b", "c", "c"],
        "event_type": pa.array(
            ["view", "purchase", "add_to_cart", "rating", "view", "buy", "view", "view", "view", "view"]
        ).dictionary_encode(),
        "value": pa.array([None, 19.99, None, 4.5, None, None, float("nan"), None, None, None]),
        "ts": pa.array(
            [ts(1_700_000_000 + k) for k in range(7)] + [ts(7_258_118_400), ts(1_700_000_009), ts(1_700_000_009)],
            pa.timestamp("ns", tz="UTC"),
        ),
        "session_id": ["s1", "s2", "s2", None, None, None, None, None, None, None],
        "extra": pa.array([[1], [2], [], None, [3], [4], [5], [6], [7], [8]], pa.list_(pa.int32())),
    }
)
pq.write_table(events, OUT / "events_pandas.parquet", compression="snappy", row_group_size=4)

# The same events as Spark 2 writes them (INT96 timestamps), zstd-compressed, the user id text.
spark = events.drop_columns(["extra"]).set_column(
    0, "user_id", pa.array(["1", "2", "2", "3", None, "4", "5", "6", "7", "7"])
)
pq.write_table(
    spark,
    OUT / "events_spark.parquet",
    compression="zstd",
    use_deprecated_int96_timestamps=True,
)

# Times as dates and as integer milliseconds, a struct column that cannot be read.
pq.write_table(
    pa.table(
        {
            "customer_id": ["c1", "c2"],
            "sku": [10, 11],
            "day": pa.array([dt.date(2024, 1, 2), dt.date(2024, 1, 3)], pa.date32()),
            "ms": pa.array([1_704_164_645_000, 1_704_164_646_000], pa.int64()),
            "where": pa.array([{"x": 1}, {"x": 2}], pa.struct([("x", pa.int32())])),
        }
    ),
    OUT / "events_dates.parquet",
    compression="gzip",
)

# A catalog: a list of categories (one with a null element), a decimal price, a text brand with a
# null, in_stock as a boolean, a JSON attributes column and two extra columns.
items = pa.table(
    {
        "product_id": ["p1", "p2", "p3"],
        "name": ["Red shoe", "Blue hat", "Bad\u0001title"],
        "categories": pa.array([["shoes", "shoes/red"], ["hats", None], []], pa.list_(pa.string())),
        "brand": ["Acme", None, "Acme"],
        "price": pa.array(
            [decimal.Decimal("19.99"), decimal.Decimal("5.00"), None], pa.decimal128(10, 2)
        ),
        "in_stock": [True, False, None],
        "attributes": ['{"colour": "red"}', None, None],
        "rating": [4.5, None, 3.0],
        "sizes": pa.array([[40, 41], [], None], pa.list_(pa.int64())),
    }
)
pq.write_table(items, OUT / "items.parquet", compression="lz4")

users = pa.table({"user_id": [1, 2], "segment": ["loyal", None], "age": [34, 51]})
pq.write_table(users, OUT / "users.parquet")
