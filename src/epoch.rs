//! The build clock, and the only source of time in envc: `SOURCE_DATE_EPOCH` when it is set
//! (and not blank), else 0, so an image built twice from the same inputs has the same digest.
//! The library never reads the wall clock; use cases take the epoch as an input (an `Options`
//! field) and only the edge (the CLI) calls [`from_env`].

/// `SOURCE_DATE_EPOCH` is set but is not a whole number of seconds (exit 1: a refused input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SOURCE_DATE_EPOCH=`{value}` is not a number of seconds since 1970-01-01")]
pub struct Error {
    pub value: String,
}

/// The build clock from the process environment.
pub fn from_env() -> Result<u64, Error> {
    parse(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// The build clock from the value of `SOURCE_DATE_EPOCH` (`None` when unset): blank is 0,
/// surrounding whitespace is ignored.
pub fn parse(value: Option<&str>) -> Result<u64, Error> {
    match value {
        Some(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| Error {
            value: v.to_string(),
        }),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_blank_are_zero_and_garbage_is_refused() {
        assert_eq!(parse(None), Ok(0));
        assert_eq!(parse(Some("  ")), Ok(0));
        assert_eq!(parse(Some(" 1700000000\n")), Ok(1_700_000_000));
        let e = parse(Some("yesterday")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SOURCE_DATE_EPOCH=`yesterday` is not a number of seconds since 1970-01-01"
        );
    }
}
