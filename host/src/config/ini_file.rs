//! A settings file read with rust-ini, able to say where each key is.

use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use crate::errors::{Error, ErrorKind};

/// A parsed ini file and its text.
pub struct IniFile {
    path: PathBuf,
    text: String,
    ini: Ini,
}

impl IniFile {
    /// Reads `path`.
    ///
    /// # Errors
    ///
    /// When it cannot be read or parsed, or a key appears twice in a section.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("cannot read settings file {}: {e}", path.display()),
            )
            .hint("pass the settings file with -c/--config")
        })?;
        Self::parse(path, text)
    }

    /// Parses `text` as the content of `path`.
    ///
    /// # Errors
    ///
    /// When it is not an ini file, or a key appears twice in a section.
    pub fn parse(path: &Path, text: String) -> Result<Self, Error> {
        // GeoNode reads this file with Python's ConfigParser: no escapes, no quotes.
        let options = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ParseOption::default()
        };
        let ini = Ini::load_from_str_opt(&text, options).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("{}:{}: {}", path.display(), e.line, e.msg),
            )
        })?;
        let file = Self {
            path: path.to_owned(),
            text,
            ini,
        };
        for (section, props) in file.ini.iter() {
            for (key, _) in props.iter() {
                if props.get_all(key).count() > 1 {
                    let section = section.unwrap_or_default();
                    return Err(file.error(
                        section,
                        key,
                        "is set more than once".to_owned(),
                        "keep one; comment the others out with `#` (GeoNode's settings keep the 2.0 -> 2.4 variant commented)",
                    ));
                }
            }
        }
        Ok(file)
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every `(section, key)` of the file, in order; keys before the first
    /// section header have the section `""`.
    pub fn keys(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.ini.iter().flat_map(|(section, props)| {
            props
                .iter()
                .map(move |(key, _)| (section.unwrap_or_default().to_owned(), key.to_owned()))
        })
    }

    /// A key's trimmed value.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.ini.get_from(Some(section), key).map(str::trim)
    }

    /// A comma-separated list; entries trimmed, empty ones kept as placeholders.
    pub fn list(&self, section: &str, key: &str) -> Vec<String> {
        match self.get(section, key) {
            Some(value) if !value.is_empty() => {
                value.split(',').map(|e| e.trim().to_owned()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// An optional integer.
    ///
    /// # Errors
    ///
    /// When the value is not an integer.
    pub fn integer(&self, section: &str, key: &str) -> Result<Option<i64>, Error> {
        self.get(section, key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse().map_err(|_| {
                    self.error(
                        section,
                        key,
                        format!("`{v}` is not an integer"),
                        "write a whole number",
                    )
                })
            })
            .transpose()
    }

    /// An optional boolean (`yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`).
    ///
    /// # Errors
    ///
    /// When the value is none of those.
    pub fn boolean(&self, section: &str, key: &str) -> Result<Option<bool>, Error> {
        self.get(section, key)
            .map(|v| {
                super::parse_bool(v).ok_or_else(|| {
                    self.error(
                        section,
                        key,
                        format!("`{v}` is not a boolean"),
                        "write yes or no",
                    )
                })
            })
            .transpose()
    }

    /// Checks that two paired lists have the same length.
    ///
    /// # Errors
    ///
    /// When they differ, naming the first entry without a pair.
    pub fn same_length(
        &self,
        section: &str,
        a: (&str, &[String]),
        b: (&str, &[String]),
    ) -> Result<(), Error> {
        let ((a_key, a), (b_key, b)) = (a, b);
        if a.len() == b.len() {
            return Ok(());
        }
        let (long_key, long, short_key) = if a.len() > b.len() {
            (a_key, a, b_key)
        } else {
            (b_key, b, a_key)
        };
        let first = long.len().min(a.len().min(b.len()));
        Err(self.error(
            section,
            long_key,
            format!(
                "has {} entries but `{short_key}` has {}: entry {} `{}` has no pair",
                long.len(),
                a.len().min(b.len()),
                first + 1,
                long[first]
            ),
            &format!("`{a_key}` and `{b_key}` pair up by position; leave an entry empty (`a,,b`) to keep them aligned"),
        ))
    }

    /// `file:LINE [section] key` for messages.
    pub fn location(&self, section: &str, key: &str) -> String {
        match self.line_of(section, key) {
            Some(line) => format!("{}:{line}: [{section}] {key}", self.path.display()),
            None => format!("{}: [{section}] {key}", self.path.display()),
        }
    }

    /// A settings error at a key.
    pub fn error(&self, section: &str, key: &str, message: String, hint: &str) -> Error {
        Error::new(
            ErrorKind::Usage,
            format!("{} {message}", self.location(section, key)),
        )
        .hint(hint)
    }

    /// The line (from 1) where `key` is set in `section`.
    pub fn line_of(&self, section: &str, key: &str) -> Option<usize> {
        let mut current = "";
        for (n, line) in self.text.lines().enumerate() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.trim();
            } else if current == section {
                let name = line.split(['=', ':']).next().unwrap_or_default().trim();
                if name == key && !line.starts_with(['#', ';']) {
                    return Some(n + 1);
                }
            }
        }
        None
    }
}
