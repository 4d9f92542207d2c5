//! The file formats the importer reads, and how columns are found in them.

/// How events are laid out in a file.
#[derive(Clone, Debug, PartialEq)]
pub enum EventFormat {
    /// GroupLens MovieLens 100k `u.data`: `user \t item \t rating \t unix_ts`, no header.
    Ml100k,
    /// GroupLens MovieLens 1M `ratings.dat`: `user::item::rating::unix_ts`, no header.
    Ml1m,
    /// MovieLens "latest" `ratings.csv`: a header naming `userId,movieId,rating[,timestamp]` in any
    /// order, extra columns allowed. When the header also has `title`, `genres` or `year` (the
    /// joined `movieId,title,year,genres,userId,rating,timestamp` layout) the catalog is filled
    /// from them.
    MlLatest,
    /// A delimited text file (CSV, TSV, ...).
    Delimited(DelimitedOptions),
    /// One JSON object per line with the REST event schema:
    /// `{"user_id", "item_id", "type"?, "value"?, "timestamp"?, "event_id"?, ...}`; ids may be strings
    /// or integers, `timestamp` unix seconds or an RFC 3339 string, unknown fields are ignored.
    Jsonl,
    /// An Apache Parquet file (what Spark, BigQuery, pandas or DuckDB write; snappy, gzip, LZ4,
    /// zstd or no compression). Columns are found by name as in a delimited file's header
    /// ([`ColumnMap`]; a [`Column::Index`] counts the top-level columns that are flat or lists):
    /// ids may be text or integers, the timestamp a timestamp, date, integer (seconds, or
    /// milliseconds from 10¹¹) or text column, the value any number. A row's number is its line
    /// in reports. The path may be a folder of part files, as Spark and BigQuery write them:
    /// every `*.parquet` under it, in path order, numbered as one file.
    Parquet(ColumnMap),
}

impl EventFormat {
    /// Comma-separated with an auto-detected header and default columns.
    pub fn csv() -> Self {
        EventFormat::Delimited(DelimitedOptions { delimiter: b',', ..DelimitedOptions::default() })
    }

    /// Tab-separated with an auto-detected header and default columns.
    pub fn tsv() -> Self {
        EventFormat::Delimited(DelimitedOptions { delimiter: b'\t', ..DelimitedOptions::default() })
    }
}

/// Options of [`EventFormat::Delimited`].
///
/// Fields may be quoted RFC 4180 style (a field that starts with `"`; `""` is a literal quote;
/// a quoted field may span lines). Spaces and tabs around fields are trimmed. With a header every
/// row must have as many fields as the header; without one, as many as the first data row.
#[derive(Clone, Debug, PartialEq)]
pub struct DelimitedOptions {
    /// Field separator byte. Default `,`.
    pub delimiter: u8,
    /// Whether the first row is a header. Default [`Header::Auto`].
    pub header: Header,
    /// Which column holds what. Default: every column [`Column::Auto`].
    pub columns: ColumnMap,
}

impl Default for DelimitedOptions {
    fn default() -> Self {
        Self { delimiter: b',', header: Header::Auto, columns: ColumnMap::default() }
    }
}

/// Whether a delimited file starts with a header row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Header {
    /// The first row is a header.
    Yes,
    /// There is no header: every row is data.
    No,
    /// The first row is a header when one of its fields names a column: a known alias (see
    /// [`ColumnMap`]) or a [`Column::Name`] of the map, compared case-insensitively. A header of
    /// unknown names is read as data, so its bad fields show up as rejected line 1.
    #[default]
    Auto,
}

/// Where one field of an event is.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Column {
    /// Found by its common names in a header; by its default position without one.
    #[default]
    Auto,
    /// The header column with this name (case-insensitive; a RecBole `:type` suffix is ignored).
    Name(String),
    /// The 0-based position.
    Index(usize),
    /// Not in the file (only for optional fields).
    Absent,
}

/// Which column holds each event field.
///
/// [`Column::Auto`] resolves, with a header, to the first header name (case-insensitive, `:type`
/// suffix ignored) among these aliases, and without a header to the position shown:
///
/// | field | aliases | position |
/// |---|---|---|
/// | user (required) | `user`, `user_id`, `userid`, `visitorid`, `customer_id` | 0 |
/// | item (required) | `item`, `item_id`, `itemid`, `movieid`, `product_id`, `productid`, `sku` | 1 |
/// | value | `value`, `rating`, `weight` | 2 (if the row has it) |
/// | timestamp | `timestamp`, `ts`, `time` | 3 (if the row has it) |
/// | event type | `type`, `event`, `event_type` | none |
/// | event id | `event_id`, `eventid` | none |
/// | session id | `session_id`, `sessionid`, `session` | none |
///
/// A row without an event type is a rating when it has a value and a view otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ColumnMap {
    /// The user id column.
    pub user: Column,
    /// The item id column.
    pub item: Column,
    /// The value (rating, weight) column.
    pub value: Column,
    /// The timestamp column.
    pub timestamp: Column,
    /// The event type column.
    pub kind: Column,
    /// The event id column (repeated ids are dropped as duplicates).
    pub event_id: Column,
    /// The session id column (events without one are cut into sessions by inactivity).
    pub session_id: Column,
}

/// Header aliases of each field, in priority order (lower case).
pub(crate) mod alias {
    pub const USER: &[&str] = &["user", "user_id", "userid", "visitorid", "customer_id"];
    pub const ITEM: &[&str] = &["item", "item_id", "itemid", "movieid", "product_id", "productid", "sku"];
    pub const VALUE: &[&str] = &["value", "rating", "weight"];
    pub const TIMESTAMP: &[&str] = &["timestamp", "ts", "time"];
    pub const KIND: &[&str] = &["type", "event", "event_type"];
    pub const EVENT_ID: &[&str] = &["event_id", "eventid"];
    pub const SESSION_ID: &[&str] = &["session_id", "sessionid", "session"];
    pub const ALL: &[&[&str]] = &[USER, ITEM, VALUE, TIMESTAMP, KIND, EVENT_ID, SESSION_ID];
}

/// How catalog items are laid out in a file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ItemFormat {
    /// GroupLens MovieLens 100k `u.item`: `id|title|release date|video date|url|` then 19 genre
    /// flags; Latin-1 text is accepted.
    Ml100kItem,
    /// RecBole atomic item file: tab-separated with a `name:type` header such as
    /// `item_id:token  movie_title:token_seq  release_year:token  class:token_seq`; `class` holds
    /// space-separated genres, other columns become attributes.
    RecBoleItem,
    /// GroupLens MovieLens 1M `movies.dat`: `id::title::Genre|Genre`; Latin-1 text is accepted.
    Ml1mMovies,
    /// MovieLens "latest" `movies.csv`: header `movieId,title,genres`, genres `|`-separated.
    MlLatestMovies,
    /// The shop catalog, one JSON object per line: `{"id", "title", "description", "categories": [],
    /// "tags": [], "brand", "price", "in_stock", "attributes": {}}`; all but `id` optional.
    CatalogJsonl,
    /// The shop catalog as Parquet: `id` (or `item_id`, `product_id`, `sku`), `title` (or `name`),
    /// `description`, `categories` and `tags` (lists of text, or a text each), `brand`, `price`,
    /// `in_stock`, `attributes` (a JSON object as text); any other column is an attribute. A
    /// folder of part files reads as one file.
    CatalogParquet,
}

/// Import behaviour shared by every format.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ImportOptions {
    /// Fail on the first bad row instead of counting it. Default false.
    pub strict: bool,
    /// How many bad rows the report keeps as examples. Default 10.
    pub max_examples: usize,
    /// The bounds of event values and times (the server's `[events]`). Default: its defaults.
    pub limits: aisle_records::EventLimits,
    /// The clock future event times are judged by (`aisle import`); `None` checks only the
    /// absolute bounds (offline evaluation of old data). Default `None`.
    pub now_ms: Option<i64>,
    /// Keep each accepted event's line and event id ([`crate::EventBatch::origins`]), for an
    /// import that derives ids from them. Default false.
    pub origins: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            strict: false,
            max_examples: 10,
            limits: aisle_records::EventLimits::default(),
            now_ms: None,
            origins: false,
        }
    }
}
