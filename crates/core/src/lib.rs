//! aisle-core: the pure heart of aisle.
//!
//! Owns dense ids ([`UserIdx`], [`ItemIdx`]) and the [`IdMap`] that maps external string ids to
//! them, interaction matrices ([`Interactions`], CSR by user with an item-major transpose), event
//! kinds and their weights, the [`Recommender`] contract and every model behind it, exact top-k
//! selection, and offline evaluation (splits and metrics).
//!
//! Does not own: files, network, clocks or threads of its own beyond rayon's pool. Time is an
//! input (timestamps in the data, `now` passed in), randomness is a seeded RNG passed in, and
//! external string ids never reach a scoring loop.

pub mod data;
pub mod eval;
pub mod event;
pub mod ids;
pub mod models;
pub mod overview;
pub mod recommender;
pub mod rng;
pub mod seq;
pub mod side;
pub mod topk;
pub mod tune;

pub use data::{DataError, Feedback, Interaction, Interactions, Row};
pub use event::{EventKind, EventWeights, UnknownEventKind};
pub use ids::{IdMap, ItemIdx, UserIdx};
pub use models::clustered::{IndexedLists, ListIndex};
pub use recommender::{
    Block, Bounded, Control, FitContext, FitError, ModelError, ModelParams, Observer, ParamError, Progress,
    Query, Recommender, Scored, Silent,
};
pub use seq::{DEFAULT_SESSION_GAP_S, SeqEvent, Sequences};
pub use side::{ItemAttributes, SideInfo};
pub use topk::{top_bounded, top_k};
