//! Packages installed without an engine, from locked artifacts: debs ([`deb`]) and wheels
//! ([`wheel`]), each turned into deterministic layer entries on top of the base's facts.

pub mod deb;
pub mod wheel;
