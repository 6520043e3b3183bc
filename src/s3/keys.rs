//! The endpoint's access keys, answering an unknown key as AWS does: 403
//! InvalidAccessKeyId (s3s's own table answers NotSignedUp).

use s3s::auth::{S3Auth, SecretKey, SimpleAuth};
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::endpoint::Credentials;

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
