//! Django's password hashes, checked in Rust: `pbkdf2_sha256` (Django's
//! default) and `pbkdf2_sha1`, compared in constant time.

use base64::{engine::general_purpose::STANDARD, Engine};
use pbkdf2::pbkdf2_hmac;
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::errors::{Error, ErrorKind};

/// Django 5.2's iteration count, for the check made when the user does not
/// exist (so that an unknown name takes as long as a wrong password).
const DUMMY_ITERATIONS: u32 = 1_000_000;

/// Whether `password` matches Django's `encoded` hash
/// (`algorithm$iterations$salt$base64 digest`). An unusable password
/// (`!...`, or empty) matches nothing.
///
/// # Errors
///
/// When the hash uses an algorithm gnbr does not check, or is malformed.
pub fn verify(password: &str, encoded: &str) -> Result<bool, Error> {
    if encoded.is_empty() || encoded.starts_with('!') {
        return Ok(false);
    }
    let mut parts = encoded.splitn(4, '$');
    let algorithm = parts.next().unwrap_or_default();
    if !matches!(algorithm, "pbkdf2_sha256" | "pbkdf2_sha1") {
        return Err(unsupported(algorithm));
    }
    let malformed = || {
        Error::new(
            ErrorKind::Target,
            format!("the user's `{algorithm}` password hash is malformed"),
        )
        .hint("set the password again in GeoNode (manage.py changepassword)")
    };
    let (Some(iterations), Some(salt), Some(digest)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let iterations: u32 = iterations
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(malformed)?;
    let expected = STANDARD.decode(digest).map_err(|_| malformed())?;
    let (password, salt) = (password.as_bytes(), salt.as_bytes());
    let actual = match algorithm {
        "pbkdf2_sha256" => {
            let mut out = [0; 32];
            pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            out.to_vec()
        }
        "pbkdf2_sha1" => {
            let mut out = [0; 20];
            pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
            out.to_vec()
        }
        _ => return Err(unsupported(algorithm)),
    };
    Ok(bool::from(actual.ct_eq(&expected)))
}

/// The work of a check, for a user that does not exist.
pub fn dummy_check(password: &str) {
    let mut out = [0; 32];
    pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        b"gnbr-no-such-user",
        DUMMY_ITERATIONS,
        &mut out,
    );
}

fn unsupported(algorithm: &str) -> Error {
    Error::new(
        ErrorKind::Target,
        format!("the user's password is hashed with `{algorithm}`, which gnbr does not check (it checks pbkdf2_sha256 and pbkdf2_sha1)"),
    )
    .hint("set the password again in GeoNode with its default hasher (manage.py changepassword)")
}

#[cfg(test)]
mod tests {
    use super::verify;

    /// Made by Django 5.2's own hashers (PBKDF2PasswordHasher,
    /// PBKDF2SHA1PasswordHasher) in GeoNode 5.1.1's virtualenv.
    const DJANGO: &[(&str, &str)] = &[
        (
            "lètmein",
            "pbkdf2_sha256$1000$seasalt$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A=",
        ),
        (
            "Ünïcødé pass",
            "pbkdf2_sha256$2000$abcdefghijkl$7EzHbm+NF8cEnTyo5zVHd4AdUvmEiDb0n41++iIx2FE=",
        ),
        (
            "lètmein",
            "pbkdf2_sha1$1000$seasalt$ljleU4wBmTtz/MoG5YTwxpM0d7I=",
        ),
        ("admin", "pbkdf2_sha1$1$salt$sLZPjmKKODn5Yach59KJEP907Es="),
        // GeoNode's sample_admin fixture (the e2e tests' `admin`).
        (
            "admin",
            "pbkdf2_sha256$30000$rjuGt0Obn8on$cxF75frIOSaitNklLZ0IJ/VonUW0fwEFVF96o0M+lGc=",
        ),
    ];

    #[test]
    fn djangos_own_hashes_verify() {
        for (password, hash) in DJANGO {
            assert_eq!(verify(password, hash), Ok(true), "{hash}");
        }
    }

    #[test]
    fn wrong_passwords_do_not() {
        for (password, hash) in DJANGO {
            for wrong in ["", "admin ", "Admin", "lètmeın", &format!("{password}x")] {
                assert_eq!(verify(wrong, hash), Ok(false), "{wrong:?} against {hash}");
            }
        }
    }

    #[test]
    fn a_changed_hash_does_not_verify() {
        let (password, hash) = DJANGO[0];
        for changed in [
            hash.replace("$1000$", "$1001$"),
            hash.replace("seasalt", "seasalT"),
            hash.replace("JgZr", "JgZs"),
            hash.trim_end_matches('=').to_owned() + "AA==",
        ] {
            assert_ne!(verify(password, &changed), Ok(true), "{changed}");
        }
    }

    #[test]
    fn unusable_and_unknown_hashes_match_nothing() {
        assert_eq!(verify("", ""), Ok(false));
        assert_eq!(verify("x", "!Xy12unusable"), Ok(false));
        for other in [
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA",
            "md5$salt$0123456789abcdef0123456789abcdef",
            "plain",
        ] {
            let err = verify("x", other).unwrap_err();
            assert!(
                err.message.contains("gnbr does not check"),
                "{}",
                err.message
            );
        }
        let err = verify("x", "pbkdf2_sha256$many$salt$AAAA").unwrap_err();
        assert!(err.message.contains("malformed"), "{}", err.message);
    }
}
