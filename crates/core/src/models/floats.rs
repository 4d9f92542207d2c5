//! How the floats of a trained model are serialised, so that any model reloads bit for bit.
//!
//! Learned state can hold NaN or infinity (an SGD fit that diverged, a bias over no rating with
//! zero regularisation, a trending score of an event after `now`), and JSON has no way to write
//! them: serde_json would write `null` and then refuse to read it back. Fields marked
//! `#[serde(with = "floats")]` therefore go through this module: binary formats (postcard, which
//! the engine stores artifacts in) get every value as the plain float, and human-readable ones
//! get finite values as numbers (serde_json prints the shortest text that parses back to the same
//! `f32`) and the others as strings: `"inf"`, `"-inf"`, or `"nan:"` and the bit pattern in hex,
//! since NaN payloads differ (`0.0 / 0.0` is not `f32::NAN` bit for bit).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serialises a float field (see the module doc).
pub(crate) fn serialize<T: Floats, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    value.write(serializer)
}

/// Deserialises a float field (see the module doc).
pub(crate) fn deserialize<'de, T: Floats, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    T::read(deserializer)
}

/// The float shapes model state has: one value, a pair, a vector.
pub(crate) trait Floats: Sized {
    /// Writes `self`.
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
    /// Reads what [`Floats::write`] wrote.
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

impl Floats for f32 {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Float(*self).serialize(serializer)
    }

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Float::deserialize(deserializer).map(|f| f.0)
    }
}

impl Floats for (f32, f32) {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (Float(self.0), Float(self.1)).serialize(serializer)
    }

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <(Float, Float)>::deserialize(deserializer).map(|(a, b)| (a.0, b.0))
    }
}

impl Floats for Vec<f32> {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(|&x| Float(x)))
    }

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Float>::deserialize(deserializer).map(|v| v.into_iter().map(|f| f.0).collect())
    }
}

/// One `f32` with the encoding of the module doc.
struct Float(f32);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        if x.is_finite() || !serializer.is_human_readable() {
            serializer.serialize_f32(x)
        } else if x == f32::INFINITY {
            serializer.serialize_str("inf")
        } else if x == f32::NEG_INFINITY {
            serializer.serialize_str("-inf")
        } else {
            serializer.serialize_str(&format!("nan:{:08x}", x.to_bits()))
        }
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(FloatVisitor)
        } else {
            f32::deserialize(deserializer).map(Float)
        }
    }
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = Float;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, \"inf\", \"-inf\" or \"nan:<bits in hex>\"")
    }

    // The same narrowing serde's own `f32` does: the shortest text of an `f32`, parsed as `f64`,
    // narrows back to that `f32`.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
        Ok(Float(v as f32))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
        Ok(Float(v as f32))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
        Ok(Float(v as f32))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Float, E> {
        let bad = || E::invalid_value(de::Unexpected::Str(v), &self);
        match v {
            "inf" => Ok(Float(f32::INFINITY)),
            "-inf" => Ok(Float(f32::NEG_INFINITY)),
            _ => {
                let bits = v.strip_prefix("nan:").ok_or_else(bad)?;
                let x = f32::from_bits(u32::from_str_radix(bits, 16).map_err(|_| bad())?);
                if x.is_nan() { Ok(Float(x)) } else { Err(bad()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct State {
        #[serde(with = "super")]
        one: f32,
        #[serde(with = "super")]
        pair: (f32, f32),
        #[serde(with = "super")]
        many: Vec<f32>,
    }

    #[test]
    fn every_float_round_trips_through_json_bit_for_bit() {
        let odd_nan = f32::from_bits(0xffc0_0001);
        let many = vec![0.1, -0.0, f32::MIN_POSITIVE, 1e-45, f32::MAX, f32::NAN, odd_nan, 3.0, 1.0 / 3.0];
        let state = State { one: f32::NEG_INFINITY, pair: (f32::INFINITY, -2.5), many };
        let json = serde_json::to_string(&state).unwrap();
        assert!(json.contains("\"-inf\"") && json.contains("\"nan:ffc00001\""), "{json}");
        let back: State = serde_json::from_str(&json).unwrap();
        let bits = |s: &State| {
            let mut b = vec![s.one.to_bits(), s.pair.0.to_bits(), s.pair.1.to_bits()];
            b.extend(s.many.iter().map(|x| x.to_bits()));
            b
        };
        assert_eq!(bits(&back), bits(&state));
        for bad in ["\"nan:0\"", "\"nan:zz\"", "\"infinity\"", "null"] {
            let text = json.replacen("\"-inf\"", bad, 1);
            assert!(serde_json::from_str::<State>(&text).is_err(), "{bad} was accepted");
        }
    }
}
