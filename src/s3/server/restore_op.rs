//! RestoreObject: 202 when a restore starts, 409 while one is ongoing, 200
//! when the object is restored already (the phases in [`super::restore`]).

use http::StatusCode;
use s3s::dto;
use s3s::{S3ErrorCode, S3Response, S3Result};

use super::ctx::StatusOverride;
use super::restore::{self, RestoreAnswer};
use super::service::{api, s3_err, Service};
use super::store::{now_ms, StoreError};

impl Service {
    pub(super) async fn restore(
        &self,
        input: &dto::RestoreObjectInput,
    ) -> S3Result<S3Response<dto::RestoreObjectOutput>> {
        let bucket = self.bucket(&input.bucket)?;
        let meta = bucket
            .get(&input.key)
            .ok_or_else(|| s3_err(StoreError::no_such_key()))?;
        let days = input
            .restore_request
            .as_ref()
            .and_then(|r| r.days)
            .unwrap_or(1);
        let delay_ms = i64::try_from(self.behaviour.restore_delay.as_millis()).unwrap_or(i64::MAX);
        let answer = restore::answer(
            &meta.attrs.storage_class,
            meta.restore.as_ref(),
            now_ms(),
            delay_ms,
            days,
        );
        let (state, status) = match answer {
            RestoreAnswer::NotArchived => {
                return Err(api(
                    S3ErrorCode::InvalidObjectState,
                    "Restore is not allowed for the object's current storage class",
                ))
            }
            RestoreAnswer::InProgress => {
                return Err(api(
                    S3ErrorCode::RestoreAlreadyInProgress,
                    "Object restore is already in progress",
                ))
            }
            RestoreAnswer::Started(s) => (s, StatusCode::ACCEPTED),
            RestoreAnswer::AlreadyRestored(s) => (s, StatusCode::OK),
        };
        let mut updated = (*meta).clone();
        updated.restore = Some(state);
        bucket.commit(updated).await.map_err(s3_err)?;
        let mut resp = S3Response::new(dto::RestoreObjectOutput::default());
        resp.extensions.insert(StatusOverride(status));
        Ok(resp)
    }
}
