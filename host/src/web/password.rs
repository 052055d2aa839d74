//! Django's password hashes, checked in Rust, for every hasher a GeoNode
//! database can hold: Django's `pbkdf2_sha256` (its default), `pbkdf2_sha1`,
//! `argon2`, `bcrypt_sha256`, `bcrypt` and `scrypt`; GeoNode's own
//! `pbkdf2sha1_wrapped_sha1` (GeoNode 5's migration `people.0038`, and
//! gn44_to_51, wrap every old SHA1 hash in it), the older
//! `pbkdf2_wrapped_sha1`, and the salted `sha1` GeoNode 4 and before
//! listed. Digests are compared in constant time.
//!
//! Not checked: Django's `md5`, `unsalted_md5`, `unsalted_sha1` and
//! `crypt`, which no GeoNode lists in its `PASSWORD_HASHERS` (GeoNode
//! itself refuses them).

use std::num::NonZeroU32;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::{engine::general_purpose::STANDARD, Engine};
use ring::pbkdf2::{PBKDF2_HMAC_SHA1, PBKDF2_HMAC_SHA256};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    archive::hex,
    errors::{Error, ErrorKind},
};

/// Django 5.2's iteration count, for the check made when the user does not
/// exist or its hash cannot be checked (so that it takes as long as a
/// wrong password).
const DUMMY_ITERATIONS: u32 = 1_000_000;

/// The most PBKDF2 iterations a hash may ask for (Django 5.2 uses 1,000,000).
const MAX_ITERATIONS: u32 = 100_000_000;

/// The most memory an argon2 or scrypt hash may ask for (Django's
/// defaults take 100 MiB and 16 MiB).
const MAX_MEMORY: u64 = 1 << 30;

/// The hashers gnbr checks, for messages.
const CHECKED: &str = "pbkdf2_sha256, pbkdf2_sha1, pbkdf2sha1_wrapped_sha1, pbkdf2_wrapped_sha1, \
                       argon2, bcrypt_sha256, bcrypt, scrypt and sha1";

/// Whether `password` matches Django's `encoded` hash
/// (`algorithm$...`, as Django stores it). An unusable password (`!...`,
/// or empty) matches nothing.
///
/// # Errors
///
/// When the hash uses an algorithm gnbr does not check, or is malformed:
/// for the admin's log, never for the visitor.
pub fn verify(password: &str, encoded: &str) -> Result<bool, Error> {
    if encoded.is_empty() || encoded.starts_with('!') {
        return Ok(false);
    }
    let (algorithm, rest) = encoded.split_once('$').unwrap_or((encoded, ""));
    let malformed = || malformed(algorithm);
    match algorithm {
        "pbkdf2_sha256" => {
            pbkdf2(PBKDF2_HMAC_SHA256, password.as_bytes(), rest).ok_or_else(malformed)
        }
        "pbkdf2_sha1" => pbkdf2(PBKDF2_HMAC_SHA1, password.as_bytes(), rest).ok_or_else(malformed),
        "pbkdf2sha1_wrapped_sha1" | "pbkdf2_wrapped_sha1" => {
            let (_, salt_and_more) = rest.split_once('$').ok_or_else(malformed)?;
            let (salt, _) = salt_and_more.split_once('$').ok_or_else(malformed)?;
            let inner = sha1_hex(salt, password);
            if algorithm == "pbkdf2sha1_wrapped_sha1" {
                pbkdf2(PBKDF2_HMAC_SHA1, inner.as_bytes(), rest).ok_or_else(malformed)
            } else {
                pbkdf2(PBKDF2_HMAC_SHA256, inner.as_bytes(), rest).ok_or_else(malformed)
            }
        }
        "argon2" => argon2(password, rest).ok_or_else(malformed),
        "bcrypt_sha256" => {
            let digest = hex(&Sha256::digest(password.as_bytes()));
            bcrypt::verify(digest, rest).map_err(|_| malformed())
        }
        "bcrypt" => bcrypt::verify(password, rest).map_err(|_| malformed()),
        "scrypt" => scrypt(password, rest).ok_or_else(malformed),
        "sha1" => {
            let (salt, digest) = rest.split_once('$').ok_or_else(malformed)?;
            if salt.is_empty() {
                return Err(unsupported("unsalted_sha1"));
            }
            Ok(bool::from(
                sha1_hex(salt, password).as_bytes().ct_eq(digest.as_bytes()),
            ))
        }
        _ if encoded.len() == 32 && !encoded.contains('$') => Err(unsupported("unsalted_md5")),
        _ => Err(unsupported(algorithm)),
    }
}

/// The work of a check, for a user that does not exist or whose hash
/// cannot be checked.
pub fn dummy_check(password: &str) {
    let mut out = [0; 32];
    ring::pbkdf2::derive(
        PBKDF2_HMAC_SHA256,
        NonZeroU32::new(DUMMY_ITERATIONS).unwrap_or(NonZeroU32::MIN),
        b"gnbr-no-such-user",
        password.as_bytes(),
        &mut out,
    );
}

/// `iterations$salt$base64 digest` of Django's PBKDF2 hashers, checked
/// against `secret` with `algorithm`; `None` when malformed.
fn pbkdf2(algorithm: ring::pbkdf2::Algorithm, secret: &[u8], fields: &str) -> Option<bool> {
    let mut parts = fields.splitn(3, '$');
    let (iterations, salt, digest) = (parts.next()?, parts.next()?, parts.next()?);
    let iterations = iterations
        .parse()
        .ok()
        .filter(|n| *n <= MAX_ITERATIONS)
        .and_then(NonZeroU32::new)?;
    let expected = STANDARD.decode(digest).ok().filter(|d| !d.is_empty())?;
    // Constant time; a digest of another length matches nothing.
    let right = ring::pbkdf2::verify(algorithm, iterations, salt.as_bytes(), secret, &expected);
    Some(right.is_ok())
}

/// Django's `argon2$argon2id$v=19$m=...,t=...,p=...$salt$hash`: the part
/// after `argon2` is argon2's own PHC string.
fn argon2(password: &str, rest: &str) -> Option<bool> {
    let phc = format!("${rest}");
    let hash = PasswordHash::new(&phc).ok()?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return None;
    }
    let memory_kib: u64 = hash.params.get_decimal("m")?.into();
    if memory_kib * 1024 > MAX_MEMORY {
        return None;
    }
    match Argon2::default().verify_password(password.as_bytes(), &hash) {
        Ok(()) => Some(true),
        Err(argon2::password_hash::Error::Password) => Some(false),
        Err(_) => None,
    }
}

/// Django's `scrypt$work_factor$salt$block_size$parallelism$base64 hash`
/// (64 bytes of hash).
fn scrypt(password: &str, rest: &str) -> Option<bool> {
    let mut parts = rest.splitn(5, '$');
    let (n, salt, r, p, digest) = (
        parts.next()?.parse::<u64>().ok()?,
        parts.next()?,
        parts.next()?.parse::<u32>().ok()?,
        parts.next()?.parse::<u32>().ok()?,
        parts.next()?,
    );
    if !n.is_power_of_two() || n < 2 || 128 * u64::from(r) * n > MAX_MEMORY {
        return None;
    }
    let expected = STANDARD.decode(digest).ok()?;
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    let params = scrypt::Params::new(log_n, r, p, expected.len()).ok()?;
    let mut actual = vec![0; expected.len()];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut actual).ok()?;
    Some(bool::from(actual.as_slice().ct_eq(&expected)))
}

/// `sha1(salt + password)` in hex, as Django's (and GeoNode's) SHA1 hasher.
fn sha1_hex(salt: &str, password: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(salt.as_bytes());
    sha1.update(password.as_bytes());
    hex(&sha1.finalize())
}

fn malformed(algorithm: &str) -> Error {
    Error::new(
        ErrorKind::Target,
        format!("the user's `{algorithm}` password hash is malformed"),
    )
    .hint("set the password again in GeoNode (manage.py changepassword)")
}

fn unsupported(algorithm: &str) -> Error {
    Error::new(
        ErrorKind::Target,
        format!("the user's password is hashed with `{algorithm}`, which gnbr does not check (it checks {CHECKED})"),
    )
    .hint("set the password again in GeoNode with its default hasher (manage.py changepassword)")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{verify, DUMMY_ITERATIONS};

    /// The password of [`DJANGO`]'s hashes.
    pub(crate) const PASSWORD: &str = "lètmein ünïcødé";

    /// Made by Django 5.2.18 in GeoNode 5.1.1's virtualenv, with
    /// `make_password` for each hasher (argon2 and bcrypt at Django's
    /// default costs), GeoNode's own `geonode.people.hashers` for the
    /// wrapped and salted SHA1 ones, Django's documented
    /// `PBKDF2WrappedSHA1PasswordHasher` for `pbkdf2_wrapped_sha1`, and
    /// fewer PBKDF2/scrypt rounds than the defaults so that debug builds
    /// check them quickly; each was checked by Django's `check_password`.
    pub(crate) const DJANGO: &[&str] = &[
        "argon2$argon2id$v=19$m=102400,t=2,p=8$WlBZU0tWSXV0Y0VjMXNka3AzYzc2ZA$iYASPT5VkYxp1n0u57g8eM2PQkG7KWTbjcT1AmPVD9k",
        "bcrypt_sha256$$2b$12$Gs/RgFBDNymEAG0MsxQ3g.qBTTfEJySnmtw/pDhoplnAGEUHJLWS6",
        "bcrypt$$2b$12$eMJwHNC36WX3fYShhxLc2u96NMlr7tFmVqqw7UTIqNASMwz3lfN3e",
        "pbkdf2_sha256$1000$seasalt2$LR07efabh2spfxh6LFx+mBypPZtBIRbdOvgrDZrSEJE=",
        "pbkdf2_sha1$1000$seasalt3$saiX/WDbPg7acWyXYMNpfYFDw1U=",
        "pbkdf2sha1_wrapped_sha1$1000$wrapsalt$Shb+i/3cHMULrLvS4wBm0v/JnpI=",
        "pbkdf2_wrapped_sha1$1000$docsalt$pW/YKpANE4Zcnr+Ay3UZVQgMDJUOH8P0Qy9y0PylOd8=",
        "sha1$oldsalt$5b797cc1be97567d9943b7fdf01e38bfcd6e844a",
        "scrypt$1024$scryptsalt$8$5$NSeJRj1Jo7fvaZtDrNIcVNOqK4Wu8+Q0N1EvDvlTwuPRyP3cL4/DAv4SJzcXLSBzIvY/cuf0/XC77VdAi1CA2Q==",
    ];

    /// Hashes of `admin` at Django 5.2's default costs: GeoNode 5.1's
    /// wrapped SHA1 (as its migration and gn44_to_51 write it), Django's
    /// default, and GeoNode's `sample_admin` fixture (the e2e tests' `admin`).
    const ADMIN: &[&str] = &[
        "pbkdf2sha1_wrapped_sha1$1000000$gn44salt$TkJHazwix0dfMDk8Zf6pyhlK1sU=",
        "pbkdf2_sha256$1000000$defaultsalt$NyzCwIj2e65EH5V6vzNMDlI//iPl3vAZFVOc3jHgLXo=",
        "pbkdf2_sha256$30000$rjuGt0Obn8on$cxF75frIOSaitNklLZ0IJ/VonUW0fwEFVF96o0M+lGc=",
    ];

    #[test]
    fn djangos_and_geonodes_own_hashes_verify() {
        for hash in DJANGO {
            assert_eq!(verify(PASSWORD, hash), Ok(true), "{hash}");
        }
        for hash in ADMIN {
            assert_eq!(verify("admin", hash), Ok(true), "{hash}");
        }
    }

    #[test]
    fn wrong_passwords_do_not() {
        for hash in DJANGO {
            for wrong in [
                "",
                "admin",
                "lètmein ünïcødé ",
                "letmein ünïcødé",
                "lètmein ünïcødÉ",
            ] {
                assert_eq!(verify(wrong, hash), Ok(false), "{wrong:?} against {hash}");
            }
        }
        assert_eq!(verify("Admin", ADMIN[0]), Ok(false));
    }

    #[test]
    fn a_changed_hash_does_not_verify() {
        for (hash, from, to) in [
            (DJANGO[3], "$1000$", "$1001$"),
            (DJANGO[3], "seasalt2", "seasalT2"),
            (DJANGO[3], "LR07", "LR08"),
            (DJANGO[5], "wrapsalt", "wrapsalT"),
            (DJANGO[0], "t=2", "t=3"),
            (DJANGO[1], "Gs/R", "Gs/S"),
            (DJANGO[7], "5b79", "5b78"),
            (DJANGO[8], "$8$5$", "$8$4$"),
        ] {
            let changed = hash.replacen(from, to, 1);
            assert_ne!(changed, hash);
            assert_ne!(verify(PASSWORD, &changed), Ok(true), "{changed}");
        }
    }

    #[test]
    fn unusable_unknown_and_malformed_hashes_match_nothing() {
        assert_eq!(verify("", ""), Ok(false));
        assert_eq!(verify("x", "!Xy12unusable"), Ok(false));
        for (other, algorithm) in [
            ("md5$salt$0123456789abcdef0123456789abcdef", "md5"),
            ("0123456789abcdef0123456789abcdef", "unsalted_md5"),
            (
                "sha1$$0123456789abcdef0123456789abcdef01234567",
                "unsalted_sha1",
            ),
            ("crypt$$abN/qM.L/H8EQ", "crypt"),
            ("plain", "plain"),
        ] {
            let err = verify("x", other).unwrap_err();
            assert!(
                err.message.contains(&format!(
                    "hashed with `{algorithm}`, which gnbr does not check"
                )),
                "{}",
                err.message
            );
        }
        for malformed in [
            "pbkdf2_sha256$many$salt$AAAA",
            "pbkdf2_sha256$1000$salt",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2sha1_wrapped_sha1$1000",
            "argon2$argon2id$v=19$m=1,t=2",
            "argon2$argon2id$v=19$m=4194304,t=2,p=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "bcrypt$$2b$12$short",
            "scrypt$1000$salt$8$5$AAAA",
            "scrypt$1073741824$salt$8$5$AAAA",
            "sha1$nodigest",
        ] {
            let err = verify("x", malformed).unwrap_err();
            assert!(
                err.message.contains("malformed"),
                "{malformed}: {}",
                err.message
            );
        }
    }

    #[test]
    fn the_dummy_check_does_the_work_of_djangos_default_hasher() {
        // An unknown user costs what a wrong password does because the dummy
        // runs Django's default hasher with its iteration count: checked by
        // construction, not by a clock, so a busy machine cannot fail it.
        let mut fields = ADMIN[1].split('$');
        assert_eq!(fields.next(), Some("pbkdf2_sha256"));
        assert_eq!(fields.next(), Some(DUMMY_ITERATIONS.to_string().as_str()));
    }
}
