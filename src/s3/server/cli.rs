//! `vmharness s3 serve`: the embedded endpoint standalone, for developers
//! of the backup tool and for debugging.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::endpoint::{Credentials, Endpoint, EndpointConfig, DEFAULT_BUCKET, DEFAULT_REGION};
use super::faults::FaultRule;

/// Run the embedded S3 endpoint until Ctrl-C.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Store directory (created if missing; a restart on it serves the same data).
    #[arg(long)]
    pub dir: PathBuf,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Bucket to create if it does not exist.
    #[arg(long, default_value = DEFAULT_BUCKET)]
    pub bucket: String,
    /// Region reported to clients.
    #[arg(long, default_value = DEFAULT_REGION)]
    pub region: String,
    /// Access key id (random when not given).
    #[arg(
        long,
        env = "VMHARNESS_S3_ACCESS_KEY_ID",
        requires = "secret_access_key"
    )]
    pub access_key_id: Option<String>,
    /// Secret access key (random when not given).
    #[arg(
        long,
        env = "VMHARNESS_S3_SECRET_ACCESS_KEY",
        requires = "access_key_id",
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,
    /// Seconds a GLACIER/DEEP_ARCHIVE restore stays ongoing.
    #[arg(long, default_value_t = 10.0)]
    pub restore_delay_secs: f64,
    /// Journal file (default: DIR/s3-journal.jsonl).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// TOML file with `[[faults]]` rules to apply.
    #[arg(long)]
    pub faults: Option<PathBuf>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsFile {
    #[serde(default)]
    faults: Vec<FaultRule>,
}

fn config(args: &ServeArgs) -> anyhow::Result<EndpointConfig> {
    use anyhow::Context as _;
    let mut cfg = EndpointConfig::new(&args.dir);
    cfg.bind = args.bind;
    cfg.port = args.port;
    cfg.bucket.clone_from(&args.bucket);
    cfg.region.clone_from(&args.region);
    if let (Some(id), Some(secret)) = (&args.access_key_id, &args.secret_access_key) {
        cfg.credentials = Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
        });
    }
    cfg.restore_delay = Duration::try_from_secs_f64(args.restore_delay_secs)
        .context("--restore-delay-secs must be a non-negative number")?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    cfg.journal_file = Some(
        args.journal
            .clone()
            .unwrap_or_else(|| args.dir.join(super::journal::JOURNAL_FILE)),
    );
    if let Some(path) = &args.faults {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: FaultsFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        cfg.faults = file.faults;
    }
    Ok(cfg)
}

/// What `serve` prints once the endpoint listens.
pub fn banner(ep: &Endpoint) -> String {
    let c = ep.credentials();
    let journal = ep
        .journal()
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(memory only)".to_owned());
    format!(
        "embedded S3 endpoint listening\n  url:        {url}\n  bucket:     {bucket}\n  region:     {region}\n  access key: {id}\n  secret key: {secret}\n  store:      {dir}\n  journal:    {journal}\n\nexport AWS_ENDPOINT_URL_S3={url} AWS_ACCESS_KEY_ID={id} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION={region}\n",
        url = ep.url(),
        bucket = ep.bucket(),
        region = ep.region(),
        id = c.access_key_id,
        secret = c.secret_access_key,
        dir = ep.dir().display(),
    )
}

/// Run the endpoint until Ctrl-C. Returns the process exit code (0, or 2
/// when it could not start).
pub fn run_serve(args: ServeArgs) -> i32 {
    match serve(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("vmharness s3 serve: {e:#}");
            2
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let cfg = config(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let ep = Endpoint::start(cfg).await?;
        print!("{}", banner(&ep));
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        eprintln!("shutting down");
        ep.shutdown().await;
        Ok(())
    })
}
