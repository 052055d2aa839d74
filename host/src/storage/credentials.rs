//! The credentials a bucket is reached with, never from settings.ini or
//! the command line: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
//! `AWS_SESSION_TOKEN`) from the environment; else a web identity or
//! container role the environment names (`AWS_WEB_IDENTITY_TOKEN_FILE`,
//! `AWS_CONTAINER_CREDENTIALS_*`); else the profile `AWS_PROFILE` (default
//! `default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
//! default `~/.aws/credentials`).

use std::path::PathBuf;

use object_store::aws::AmazonS3Builder;

use crate::errors::{Error, ErrorKind};

/// Variables that let `object_store` fetch credentials of a role itself.
const ROLE_VARIABLES: [&str; 3] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// What to do about credentials a bucket refused or that are missing.
pub const HINT: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in gnbr's environment, or AWS_PROFILE naming a profile of ~/.aws/credentials, with a key that may list, read and write the bucket";

/// `builder` (made from the environment) with credentials, and where they
/// came from, said for messages (never a secret).
///
/// # Errors
///
/// No credentials anywhere, only half of a key in the environment, or a
/// profile asked for that the shared credentials file does not hold.
pub fn apply(builder: AmazonS3Builder) -> Result<(AmazonS3Builder, String), Error> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(_), Some(_)) => {
            return Ok((builder, "AWS_ACCESS_KEY_ID from the environment".to_owned()))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::new(
                ErrorKind::Usage,
                "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set",
            )
            .hint("set both, or neither and AWS_PROFILE"))
        }
        (None, None) => {}
    }
    if let Some(role) = ROLE_VARIABLES.iter().find(|v| var(v).is_some()) {
        return Ok((builder, format!("the role {role} names")));
    }
    let profile = var("AWS_PROFILE");
    let file = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".aws/credentials")));
    let name = profile.as_deref().unwrap_or("default");
    let missing = |why: String| {
        Error::new(
            ErrorKind::Usage,
            format!("no credentials for the bucket: {why}"),
        )
        .hint(HINT)
    };
    let Some(file) = file else {
        return Err(missing(
            "AWS_ACCESS_KEY_ID is not set and HOME is not either".to_owned(),
        ));
    };
    let ini = match ini::Ini::load_from_file(&file) {
        Ok(ini) => ini,
        Err(_) if profile.is_none() && !file.exists() => {
            return Err(missing(format!(
                "AWS_ACCESS_KEY_ID is not set and there is no {}",
                file.display()
            )));
        }
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "cannot read the shared credentials file {}: {e}",
                    file.display()
                ),
            )
            .hint(HINT))
        }
    };
    let section = ini.section(Some(name));
    let get = |key: &str| {
        section
            .and_then(|s| s.get(key))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (Some(key_id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key"))
    else {
        return Err(missing(format!(
            "{} has no profile [{name}] with aws_access_key_id and aws_secret_access_key",
            file.display()
        )));
    };
    let mut builder = builder
        .with_access_key_id(key_id)
        .with_secret_access_key(secret);
    if let Some(token) = get("aws_session_token") {
        builder = builder.with_token(token);
    }
    Ok((builder, format!("profile [{name}] of {}", file.display())))
}
