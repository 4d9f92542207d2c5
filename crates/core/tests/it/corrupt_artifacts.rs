//! Stored models are untrusted input: an artifact may be corrupt or written by another version,
//! and whatever bytes decode as a [`Model`] and pass [`Model::check`] (as the engine requires)
//! must be servable; every fitted model passes the check.
//!
//! Every model of the conformance suite is written with postcard, as the engine stores it; then
//! seeded mutations of those bytes (bits flipped, truncations, varints — lengths, counts,
//! dimensions, variant tags — overwritten, special floats written in, chunks duplicated or
//! deleted) are decoded — [`COPIES_PER_MODEL`] of them, and more until [`DECODED_PER_MODEL`]
//! have passed the check — and every copy that passes is asked every question of the
//! [`Recommender`] contract with in-range arguments. No call may panic (a panic fails the test
//! naming the model, the mutation and the method). In-range questions get answers (`Unsupported`
//! aside); lists are sorted, unique, in range, finite and respect their exclusions; every score
//! buffer is written whole. Scores are finite for every copy whose numbers are ordinary (finite,
//! and zero or of magnitude 1e-9..1e9): a copy holding infinities or NaN (which models that
//! diverged legitimately keep, see `floats`) or numbers near the ends of the float range may
//! score non-finitely, as the model it imitates would. A copy that decodes to the very model
//! that was written answers exactly as that model does.

use std::panic::{AssertUnwindSafe, catch_unwind};

use aisle_core::models::registry::Model;
use aisle_core::rng::{SeededRng, seeded};
use aisle_core::{ItemIdx, ModelError, Recommender, Scored, UserIdx};
use rand::Rng;

use crate::conformance::{cases, checkerboard, fit};

/// Mutated copies tried per model, at least (the `artifact` fuzz target of `fuzz/` searches far
/// longer; this is the regression test that runs with every build).
const COPIES_PER_MODEL: usize = 400;

/// Mutated copies that must pass the checks (and are then exercised) per model, at least:
/// models whose checks refuse most copies are tried more.
const DECODED_PER_MODEL: usize = 100;

/// Mutated copies tried per model at most.
const MAX_COPIES_PER_MODEL: usize = 20_000;

/// The bits a score buffer is filled with before a call: a signalling NaN, which no arithmetic
/// produces (operations quiet it), so a slot still holding it was not written.
const UNWRITTEN: u32 = 0x7fa5_a5a5;

/// One change to an artifact's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    /// `bytes[at] ^= mask`.
    Flip { at: usize, mask: u8 },
    /// The first `len` bytes.
    Truncate { len: usize },
    /// The LEB128 varint starting at `at` (a length, count, index, dimension or variant tag when
    /// it lands on one) replaced by `value`'s.
    Varint { at: usize, value: u64 },
    /// Four bytes at `at` replaced by `value`, little-endian (an `f32` when it lands on one).
    Float { at: usize, value: f32 },
    /// `len` bytes from `from` inserted again at `to`.
    Duplicate { from: usize, len: usize, to: usize },
    /// `len` bytes from `from` removed.
    Delete { from: usize, len: usize },
}

/// Varints worth writing: empty, one, byte and word boundaries, the artifact's own length.
fn varint_value(rng: &mut SeededRng, len: usize) -> u64 {
    let special = [0, 1, 2, 3, 7, 8, 16, 127, 128, 255, 16_383, 16_384, 65_535, 1 << 32, u64::MAX];
    match rng.random_range(0..4) {
        0 => special[rng.random_range(0..special.len())],
        1 => len as u64 + rng.random_range(0..3),
        2 => u64::from(u32::MAX) - rng.random_range(0..2),
        _ => rng.random_range(0..64),
    }
}

/// Floats worth writing: non-finite, signed zero, extremes, subnormals.
const FLOATS: [f32; 10] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    0.0,
    -0.0,
    f32::MAX,
    f32::MIN,
    f32::MIN_POSITIVE,
    1e-45,
    -1e30,
];

impl Mutation {
    /// A mutation of an artifact of `len` bytes (`len ≥ 1`).
    fn random(rng: &mut SeededRng, len: usize) -> Self {
        let at = rng.random_range(0..len);
        let span = rng.random_range(1..=16).min(len - at);
        match rng.random_range(0..10) {
            0..=2 => Mutation::Flip { at, mask: rng.random_range(1..=255) },
            3 => Mutation::Flip { at, mask: 1 << rng.random_range(0..8) },
            4 => Mutation::Truncate { len: rng.random_range(0..len) },
            5 | 6 => Mutation::Varint { at, value: varint_value(rng, len) },
            7 => Mutation::Float { at, value: FLOATS[rng.random_range(0..FLOATS.len())] },
            8 => Mutation::Duplicate { from: at, len: span, to: rng.random_range(0..=len) },
            _ => Mutation::Delete { from: at, len: span },
        }
    }

    /// `bytes` with the mutation applied.
    fn apply(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        match *self {
            Mutation::Flip { at, mask } => out[at] ^= mask,
            Mutation::Truncate { len } => out.truncate(len),
            Mutation::Varint { at, value } => {
                let old =
                    out[at..].iter().take(10).position(|b| b & 0x80 == 0).map_or(out.len() - at, |k| k + 1);
                out.splice(at..at + old, leb128(value));
            }
            Mutation::Float { at, value } => {
                let end = (at + 4).min(out.len());
                out.splice(at..end, value.to_le_bytes()[..end - at].iter().copied());
            }
            Mutation::Duplicate { from, len, to } => {
                let chunk = bytes[from..from + len].to_vec();
                out.splice(to..to, chunk);
            }
            Mutation::Delete { from, len } => {
                out.drain(from..from + len);
            }
        }
        out
    }
}

/// `value` as a LEB128 varint, as postcard writes integers.
fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Whether every number `model` holds is ordinary: finite, and zero or of magnitude 1e-9..1e9.
/// Read from its JSON form, where finite floats are numbers and the others the strings `floats`
/// writes (`inf`, `-inf`, `nan:…`); integers (counts, indexes, seeds) are not floats.
fn ordinary(model: &Model) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        use serde_json::Value;
        match v {
            Value::Number(n) if n.is_f64() => {
                n.as_f64().is_some_and(|x| x == 0.0 || (1e-9..=1e9).contains(&x.abs()))
            }
            Value::String(s) => !(s == "inf" || s == "-inf" || s.starts_with("nan:")),
            Value::Array(a) => a.iter().all(walk),
            Value::Object(o) => o.values().all(walk),
            Value::Null | Value::Bool(_) | Value::Number(_) => true,
        }
    }
    serde_json::to_value(model).is_ok_and(|v| walk(&v))
}

/// Which copy is being asked, for failure messages, and what its answers must satisfy.
struct Probe<'a> {
    case: &'a str,
    copy: usize,
    mutation: Option<&'a Mutation>,
    /// Scores must be finite (the copy's numbers are ordinary).
    finite: bool,
    /// Every answer, as bits, to compare a copy with the model it decodes to.
    transcript: Vec<u32>,
}

impl Probe<'_> {
    /// Fails the test, naming the model, the copy, its mutation and the method.
    fn fail(&self, method: &str, what: &str) -> ! {
        panic!("{}: copy {} ({:?}): {method}: {what}", self.case, self.copy, self.mutation)
    }

    /// `f()`, a panic in it turned into a failure that names the method.
    fn call<T>(&self, method: &str, f: impl FnOnce() -> T) -> T {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            self.fail(method, &format!("panicked: {msg}"))
        })
    }

    /// An in-range question must be answered.
    fn answered<T>(&self, method: &str, result: Result<T, ModelError>) -> T {
        result.unwrap_or_else(|e| self.fail(method, &format!("refused an in-range call: {e}")))
    }

    /// Answered, or `Unsupported` (`None`).
    fn supported<T>(&self, method: &str, result: Result<T, ModelError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(ModelError::Unsupported { .. }) => None,
            Err(e) => self.fail(method, &format!("refused an in-range call: {e}")),
        }
    }

    /// One score: finite when the copy is ordinary.
    fn score(&mut self, method: &str, s: f32) {
        if self.finite && !s.is_finite() {
            self.fail(method, &format!("score {s} from a model of ordinary numbers"));
        }
        self.transcript.push(s.to_bits());
    }

    /// A score buffer: every slot written, finite when the copy is ordinary.
    fn scores(&mut self, method: &str, out: &[f32]) {
        if let Some(k) = out.iter().position(|s| s.to_bits() == UNWRITTEN) {
            self.fail(method, &format!("slot {k} of {} was not written", out.len()));
        }
        for &s in out {
            self.score(method, s);
        }
    }

    /// A top-`n` list: at most `n` known items, none excluded, unique, finite, best first.
    fn list(&mut self, method: &str, list: &[Scored], n: usize, n_items: usize, excluded: &[ItemIdx]) {
        let mut items: Vec<u32> = list.iter().map(|s| s.item.0).collect();
        let ok = list.len() <= n
            && list
                .iter()
                .all(|s| s.item.index() < n_items && !excluded.contains(&s.item) && s.score.is_finite())
            && list.windows(2).all(|w| w[0].score >= w[1].score);
        items.sort_unstable();
        items.dedup();
        if !ok || items.len() != list.len() {
            self.fail(
                method,
                &format!("bad list {list:?} (n = {n}, {n_items} items, excluding {excluded:?})"),
            );
        }
        for s in list {
            self.transcript.extend([s.item.0, s.score.to_bits()]);
        }
    }
}

/// Every known user worth asking about: the first and the last.
fn users(n_users: usize) -> Vec<UserIdx> {
    match n_users {
        0 => Vec::new(),
        n => vec![UserIdx(0), UserIdx(u32::try_from(n - 1).unwrap_or(u32::MAX))],
    }
}

/// Asks `model` about known users: scores of all items and a few, predictions, a top list.
fn ask_users(model: &Model, probe: &mut Probe<'_>, items: &[ItemIdx]) {
    let n_items = probe.call("n_items", || model.n_items());
    for u in users(probe.call("n_users", || model.n_users())) {
        let mut all = vec![f32::from_bits(UNWRITTEN); n_items];
        let r = probe.call("score_user", || model.score_user(u, &mut all));
        probe.answered("score_user", r);
        probe.scores("score_user", &all);
        let mut some = vec![f32::from_bits(UNWRITTEN); items.len()];
        let r = probe.call("score_user_items", || model.score_user_items(u, items, &mut some));
        probe.answered("score_user_items", r);
        probe.scores("score_user_items", &some);
        for &i in items.iter().take(2) {
            let r = probe.call("predict", || model.predict(u, i));
            if let Some(p) = probe.supported("predict", r) {
                probe.score("predict", p);
            }
        }
        let exclude = &items[..items.len().min(1)];
        // A short list, and the whole catalog (any `n` is a valid request).
        for n in [5, 5] {
            let r = probe.call("recommend", || model.recommend(u, n, exclude));
            let list = probe.answered("recommend", r);
            probe.list("recommend", &list, n, n_items, exclude);
        }
    }
}

/// Asks `model` about items and an unseen user: fold-in, similar items, affinities. `items` are
/// the first, last, middle and first item again.
fn ask_items(model: &Model, probe: &mut Probe<'_>, items: &[ItemIdx]) {
    let n_items = model.n_items();
    let (first, last, mid) = (items[0], items[1], items[2]);
    // A history with a repeat and a dislike, as a shopper's events give.
    let history = [(first, 5.0), (mid, 1.0), (last, 3.0), (mid, -1.0)];
    let mut all = vec![f32::from_bits(UNWRITTEN); n_items];
    let r = probe.call("score_history", || model.score_history(&history, &mut all));
    probe.answered("score_history", r);
    probe.scores("score_history", &all);
    let mut some = vec![f32::from_bits(UNWRITTEN); items.len()];
    let r = probe.call("score_history_items", || model.score_history_items(&history, items, &mut some));
    probe.answered("score_history_items", r);
    probe.scores("score_history_items", &some);
    let r = probe.call("recommend_history", || model.recommend_history(&history, 5, &[mid]));
    let list = probe.answered("recommend_history", r);
    probe.list("recommend_history", &list, 5, n_items, &[mid]);
    for (item, n, exclude) in [(first, 5, &[last][..]), (last, 5, &[][..]), (mid, 5, &[][..])] {
        let r = probe.call("similar_items", || model.similar_items(item, n, exclude));
        if let Some(list) = probe.supported("similar_items", r) {
            probe.list("similar_items", &list, n, n_items, &[exclude, &[item]].concat());
        }
    }
    for (a, b) in [(first, last), (last, mid), (mid, mid)] {
        if let Some(x) = probe.call("item_affinity", || model.item_affinity(a, b)) {
            probe.score("item_affinity", x);
        }
    }
}

/// Asks `model` every question with in-range arguments (see the module doc).
fn exercise(model: &Model, probe: &mut Probe<'_>) {
    let n_items = probe.call("n_items", || model.n_items());
    let items: Vec<ItemIdx> = match u32::try_from(n_items) {
        Ok(0) => Vec::new(),
        Ok(n) => vec![ItemIdx(0), ItemIdx(n - 1), ItemIdx(n / 2), ItemIdx(0)],
        Err(_) => probe.fail("n_items", &format!("{n_items} items cannot be indexed")),
    };
    ask_users(model, probe, &items);
    if !items.is_empty() {
        ask_items(model, probe, &items);
    }
}

/// What happened to one model's copies.
#[derive(Default, Debug)]
struct Tally {
    tried: usize,
    /// Decoded, but refused by [`Model::check`].
    refused: usize,
    /// Decoded and passed the checks: exercised.
    decoded: usize,
    finite_checked: usize,
    unchanged: usize,
}

/// Decodes mutations of `bytes`, the artifact of `model` (see the constants for how many), and
/// exercises each copy that decodes.
fn mutate(name: &str, seed: u64, model: &Model, bytes: &[u8]) -> Tally {
    let mut reference = Probe { case: name, copy: 0, mutation: None, finite: true, transcript: Vec::new() };
    exercise(model, &mut reference);
    let mut rng = seeded(seed);
    let mut tally = Tally::default();
    while (tally.tried < COPIES_PER_MODEL || tally.decoded < DECODED_PER_MODEL)
        && tally.tried < MAX_COPIES_PER_MODEL
    {
        tally.tried += 1;
        let mutation = Mutation::random(&mut rng, bytes.len());
        let mutated = mutation.apply(bytes);
        let mut probe = Probe {
            case: name,
            copy: tally.tried,
            mutation: Some(&mutation),
            finite: false,
            transcript: Vec::new(),
        };
        let decoded = probe.call("decode", || postcard::from_bytes::<Model>(&mutated));
        let Ok(copy_model) = decoded else { continue };
        if probe.call("check", || copy_model.check()).is_err() {
            tally.refused += 1;
            continue;
        }
        tally.decoded += 1;
        let n_items = probe.call("n_items", || copy_model.n_items());
        if n_items > mutated.len() {
            probe.fail("n_items", &format!("{n_items} items claimed by {} bytes", mutated.len()));
        }
        probe.finite = ordinary(&copy_model);
        tally.finite_checked += usize::from(probe.finite);
        exercise(&copy_model, &mut probe);
        if postcard::to_allocvec(&copy_model).is_ok_and(|b| b == bytes) {
            tally.unchanged += 1;
            if probe.transcript != reference.transcript {
                probe.fail("every method", "the original model, decoded again, answers differently");
            }
        }
    }
    tally
}

#[test]
#[expect(clippy::print_stderr, reason = "each model's tally of copies is reported")]
fn corrupt_artifacts_decode_to_servable_models_or_not_at_all() {
    let data = checkerboard();
    for (index, case) in cases().iter().enumerate() {
        let model = fit(case, &data, 1);
        model.check().unwrap_or_else(|e| panic!("{}: a fitted model fails its checks: {e}", case.name));
        let bytes = postcard::to_allocvec(&model).expect("a model encodes");
        let back: Model = postcard::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(postcard::to_allocvec(&back).expect("encodes"), bytes, "{}: round trip", case.name);
        back.check().unwrap_or_else(|e| panic!("{}: a reloaded model fails its checks: {e}", case.name));
        assert!(
            ordinary(&model),
            "{}: the fitted model is not ordinary; the finite checks would be vacuous",
            case.name
        );
        let tally = mutate(case.name, 1000 + index as u64, &back, &bytes);
        eprintln!("{}: {} bytes: {tally:?}", case.name, bytes.len());
        // Enough copies pass the checks, and enough of those are ordinary, for the checks to
        // bite; and the checks refuse some (a mutation of a length or an index is caught).
        assert!(tally.decoded >= DECODED_PER_MODEL, "{}: {tally:?}", case.name);
        assert!(tally.finite_checked >= DECODED_PER_MODEL / 4, "{}: {tally:?}", case.name);
    }
}

#[test]
fn a_blend_inside_a_blend_is_refused_at_any_depth() {
    let data = checkerboard();
    let case = cases().into_iter().find(|c| c.name == "blend").expect("a blend case");
    let blend = fit(&case, &data, 1);
    // As JSON, the refusal says why.
    let inner = serde_json::to_value(&blend).expect("encodes");
    let nested = serde_json::json!({"Blend": {
        "components": [[inner, 1.0]], "norm": "z_score", "n_users": data.n_users(), "n_items": data.n_items(),
    }});
    let err = serde_json::from_value::<Model>(nested).expect_err("a nested blend is refused");
    assert!(err.to_string().contains("unknown variant `Blend`"), "{err}");
    // As postcard (variant 13, one component, that component a blend), a million levels deep:
    // refused at the second level, without recursing into the rest.
    let bytes = postcard::to_allocvec(&blend).expect("encodes");
    assert_eq!(bytes[0], 13, "the blend is variant 13");
    let mut deep = [13u8, 1].repeat(1_000_000);
    deep.extend_from_slice(&bytes);
    assert!(postcard::from_bytes::<Model>(&deep).is_err());
}
