//! The profile's `[s3]` section.
pub use self::types::*;
mod types {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum BackendKind { #[default] Embedded, Aws, Endpoint }
    #[derive(Debug, Clone, Default, serde::Deserialize)]
    pub struct S3Section { pub backend: BackendKind }
}
