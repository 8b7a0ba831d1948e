//! Hermetic package installation's lock side: `envc lock` reads a base image's facts
//! ([`facts`]), resolves the spec's Debian packages against the image's own apt sources
//! ([`apt`]) and its pip requirements for the image's Python ([`pip`]), and writes
//! [`file::Lockfile`]. Artifacts are fetched ([`fetch`]) into a content-addressed cache
//! ([`cache`]), from which `envc build --lock` installs them with no network.

pub mod apt;
pub mod facts;
pub mod file;
pub mod pip;
pub mod fetch;
