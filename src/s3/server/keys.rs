//! The endpoint's access keys, answering an unknown key as AWS does: 403
//! InvalidAccessKeyId (s3s's own table answers NotSignedUp); and the bound
//! on a presigned URL's lifetime, which s3s does not check.

use s3s::auth::{S3Auth, SecretKey, SimpleAuth};
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::endpoint::Credentials;
use super::gate::query_param;

pub(crate) struct Keys(SimpleAuth);

impl Keys {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a Credentials>) -> Keys {
        let mut auth = SimpleAuth::new();
        for c in keys {
            auth.register(c.access_key_id.clone(), c.secret_access_key.clone().into());
        }
        Keys(auth)
    }
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.0.lookup(access_key).cloned().ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })
    }
}

/// AWS's longest presigned-URL lifetime: 7 days.
const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// The refusal of a presigned (query-signed) request whose `X-Amz-Expires`
/// is not a whole number of seconds up to 7 days: 400
/// AuthorizationQueryParametersError. AWS judges this before the signature
/// (s3s has no such bound); None for any other request.
pub(crate) fn presign_refusal(uri: &http::Uri) -> Option<S3Error> {
    query_param(uri, "X-Amz-Signature")?;
    let expires = query_param(uri, "X-Amz-Expires")?;
    let message = match expires.parse::<i64>() {
        Err(_) => "X-Amz-Expires should be a number",
        Ok(n) if n < 0 => "X-Amz-Expires must be non-negative",
        Ok(n) if n.unsigned_abs() > MAX_PRESIGNED_EXPIRES_SECS => {
            "X-Amz-Expires must be less than a week (in seconds) that is; the maximum expires is 604800 seconds"
        }
        Ok(_) => return None,
    };
    Some(S3Error::with_message(
        S3ErrorCode::AuthorizationQueryParametersError,
        message,
    ))
}

#[cfg(test)]
mod tests {
    use super::presign_refusal;

    fn code(q: &str) -> Option<String> {
        let uri: http::Uri = format!("/b/k?{q}").parse().expect("uri");
        presign_refusal(&uri).map(|e| e.code().as_str().to_owned())
    }

    #[test]
    fn presigned_expiry_is_bounded_to_a_week() {
        assert_eq!(code("X-Amz-Expires=604800&X-Amz-Signature=ab"), None);
        let refused = Some("AuthorizationQueryParametersError".to_owned());
        assert_eq!(code("X-Amz-Expires=604801&X-Amz-Signature=ab"), refused);
        assert_eq!(code("X-Amz-Expires=-1&X-Amz-Signature=ab"), refused);
        assert_eq!(code("X-Amz-Expires=soon&X-Amz-Signature=ab"), refused);
        // Not presigned: not ours to judge.
        assert_eq!(code("X-Amz-Expires=999999999"), None);
    }
}
