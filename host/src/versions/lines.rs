//! GeoNode release lines (`4.4`) and ranges of them (`3.0-3.3`): what the
//! fingerprints narrow a backup down to, and what plugin requirements are
//! checked against.

use std::fmt;

use semver::{Version, VersionReq};

/// A GeoNode release line: `major.minor` (`2.10`, `4.4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Line {
    /// The major version.
    pub major: u64,
    /// The minor version.
    pub minor: u64,
}

impl Line {
    /// The line `major.minor`.
    pub const fn new(major: u64, minor: u64) -> Self {
        Self { major, minor }
    }

    /// The line `version` belongs to.
    pub fn of(version: &Version) -> Self {
        Self::new(version.major, version.minor)
    }

    /// Its first release, `major.minor.0`.
    pub fn first_release(self) -> Version {
        Version::new(self.major, self.minor, 0)
    }

    /// Whether some release of the line meets `requirement`: checked at
    /// its first and at its highest possible patch, which decides every
    /// requirement plugins declare (`~4.4`, `>=4.1.2, <4.2`).
    pub fn fits(self, requirement: &VersionReq) -> bool {
        requirement.matches(&self.first_release())
            || requirement.matches(&Version::new(self.major, self.minor, u64::MAX))
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The GeoNode release lines gnbr tells apart, oldest first. There was no
/// 2.1-2.3 nor 2.9; a new release is one more entry here and its rows in
/// [`super::FINGERPRINTS`].
pub const LINES: &[Line] = &[
    Line::new(2, 0),
    Line::new(2, 4),
    Line::new(2, 5),
    Line::new(2, 6),
    Line::new(2, 7),
    Line::new(2, 8),
    Line::new(2, 10),
    Line::new(3, 0),
    Line::new(3, 1),
    Line::new(3, 2),
    Line::new(3, 3),
    Line::new(4, 0),
    Line::new(4, 1),
    Line::new(4, 2),
    Line::new(4, 3),
    Line::new(4, 4),
    Line::new(5, 0),
    Line::new(5, 1),
];

/// The release lines `first..=last`, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRange {
    /// The oldest line.
    pub first: Line,
    /// The newest line.
    pub last: Line,
}

impl LineRange {
    /// Every line of [`LINES`]: what an archive that shows nothing may be.
    pub const ALL: Self = Self::new(Line::new(2, 0), Line::new(5, 1));

    /// The lines `first..=last`.
    pub const fn new(first: Line, last: Line) -> Self {
        Self { first, last }
    }

    /// Just `line`.
    pub const fn one(line: Line) -> Self {
        Self::new(line, line)
    }

    /// Whether it is a single line.
    pub fn is_one(&self) -> bool {
        self.first == self.last
    }

    /// Its lines, oldest first: those of [`LINES`] in it, or the single
    /// line itself when gnbr does not list it (a target's `9.0`).
    pub fn lines(&self) -> Vec<Line> {
        if self.is_one() {
            return vec![self.first];
        }
        LINES
            .iter()
            .copied()
            .filter(|l| self.first <= *l && *l <= self.last)
            .collect()
    }

    /// The lines both hold, if any.
    pub fn and(&self, other: &Self) -> Option<Self> {
        let range = Self::new(self.first.max(other.first), self.last.min(other.last));
        (range.first <= range.last).then_some(range)
    }

    /// Whether some release of some of its lines meets `requirement`. A
    /// range that reaches the newest line of [`LINES`] also fits releases
    /// newer than the table knows (their backups look like the newest
    /// line's), probed up to ten majors ahead.
    pub fn fits(&self, requirement: &VersionReq) -> bool {
        let newest = LINES[LINES.len() - 1];
        let newer = || {
            (newest.major..=newest.major + 10)
                .flat_map(|major| (0..=20).map(move |minor| Line::new(major, minor)))
                .filter(|line| *line > newest)
                .any(|line| line.fits(requirement))
        };
        self.lines().into_iter().any(|l| l.fits(requirement)) || self.last == newest && newer()
    }
}

impl fmt::Display for LineRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_one() {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl serde::Serialize for LineRange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
