//! The two lists a crate of bindings keeps: its releases (`schema/releases`) and the QAPI
//! modules its cargo features name (the `full` feature of its Cargo.toml). Read by the
//! build script and by the tests that check the lists agree with the schemas.

/// The file names of a release list, oldest first: one per line; blank lines and `#`
/// comments are skipped.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The features the `full = [...]` line of a Cargo manifest lists (the QAPI modules a
/// crate of bindings gates), in order; empty when there is none.
pub fn module_features(manifest: &str) -> Vec<String> {
    let Some(start) = manifest
        .lines()
        .position(|line| line.trim_start().starts_with("full = ["))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in manifest.lines().skip(start) {
        let body = line.split_once('[').map_or(line, |(_, rest)| rest);
        let body = body.split('#').next().unwrap_or_default();
        for item in body.split(',') {
            let item = item.trim().trim_end_matches(']').trim();
            if let Some(name) = item.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
                out.push(name.to_string());
            }
        }
        if line.contains(']') {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(
            parse_list("# c\n\na.json\n  b.json \n"),
            ["a.json", "b.json"]
        );
        let manifest =
            "[features]\ndefault = [\"full\"]\nfull = [\"a\", \"b-c\",\n  \"d\"]\na = []\n";
        assert_eq!(module_features(manifest), ["a", "b-c", "d"]);
        assert!(module_features("[features]\n").is_empty());
    }
}
