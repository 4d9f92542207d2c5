//! `aisle.toml`: `AisleConfig::from_toml` never panics, and a config it accepts gives an engine
//! config that validates.
#![no_main]

use aisle_server::config::AisleConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = AisleConfig::from_toml(text, "fuzz") else { return };
    if let Err(e) = config.engine().validate() {
        panic!("from_toml accepted a config whose engine part does not validate: {e}\n{text}");
    }
});
