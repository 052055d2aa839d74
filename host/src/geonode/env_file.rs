//! `[geonode] env_file`: `KEY=VALUE` lines for Django's environment.

use std::path::Path;

use crate::errors::{Error, ErrorKind};

/// Reads `KEY=VALUE` lines; `#` comments, blank lines, an `export ` prefix
/// and quotes around the value are allowed.
///
/// # Errors
///
/// When the file cannot be read or a line is not `KEY=VALUE` (the value is
/// never shown: it may be a password).
pub fn read(path: &Path) -> Result<Vec<(String, String)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorKind::Usage,
            format!("cannot read [geonode] env_file {}: {e}", path.display()),
        )
    })?;
    parse(&text).map_err(|line| {
        Error::new(
            ErrorKind::Usage,
            format!("{}:{line}: not a KEY=VALUE line", path.display()),
        )
        .hint("write one KEY=VALUE per line, such as DATABASE_URL=postgis://user:pass@host:5432/db")
    })
}

fn parse(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line.split_once('=').ok_or(n + 1)?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(n + 1);
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        vars.push((key.to_owned(), value.to_owned()));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_key_value_lines() {
        let vars = parse("# comment\n\nexport A=1\nB = 'two words'\nC=\"x=y\"\n").unwrap();
        assert_eq!(
            vars,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x=y".into())
            ]
        );
        assert_eq!(parse("A=1\nnot a line\n"), Err(2));
        assert_eq!(parse("bad key=1\n"), Err(1));
    }
}
