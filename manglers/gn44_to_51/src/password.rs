//! Rule 2: SHA1 password hashes wrapped in PBKDF2-SHA1, as GeoNode 5.1's
//! migration `people.0038` does with `PBKDF2SHA1WrappedSHA1PasswordHasher`.

use base64::{engine::general_purpose::STANDARD, Engine};
use sha1::Sha1;

/// The iterations GeoNode 5.1 (Django 5.2's PBKDF2 hashers) uses.
const ITERATIONS: u32 = 1_000_000;

/// The algorithm name of GeoNode 5.1's hasher for wrapped SHA1 hashes.
const ALGORITHM: &str = "pbkdf2sha1_wrapped_sha1";

/// What to do with a stored password.
#[derive(Debug, PartialEq, Eq)]
pub enum Wrapped {
    /// Not a SHA1 hash: kept as it is.
    Kept,
    /// A SHA1 hash, wrapped.
    New(String),
    /// Starts like a SHA1 hash but cannot be one (no salt): kept, and the
    /// user cannot log in with it on 4.4 or 5.1.
    Malformed,
}

/// Wraps `sha1$<salt>$<hexdigest>` as
/// `pbkdf2sha1_wrapped_sha1$1000000$<salt>$<base64 pbkdf2(hexdigest, salt)>`.
pub fn wrap(password: &str) -> Wrapped {
    let Some(rest) = password.strip_prefix("sha1$") else {
        return Wrapped::Kept;
    };
    // `split("$", 2)` as the migration does: the digest is all after the salt.
    match rest.split_once('$') {
        Some((salt, digest)) if !salt.is_empty() => {
            let mut key = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<Sha1>(digest.as_bytes(), salt.as_bytes(), ITERATIONS, &mut key);
            Wrapped::New(format!(
                "{ALGORITHM}${ITERATIONS}${salt}${}",
                STANDARD.encode(key)
            ))
        }
        _ => Wrapped::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::{wrap, Wrapped};

    #[test]
    fn other_values_are_kept() {
        for password in [
            "",
            "!unusable",
            "pbkdf2_sha256$870000$s$h",
            "md5$s$h",
            "SHA1$s$h",
        ] {
            assert_eq!(wrap(password), Wrapped::Kept, "{password}");
        }
        assert_eq!(wrap("sha1$"), Wrapped::Malformed);
        assert_eq!(wrap("sha1$nosalt"), Wrapped::Malformed);
        assert_eq!(wrap("sha1$$digest"), Wrapped::Malformed);
    }
}
