"""btrfs_to_s3: the vmharness reference Btrfs-to-S3 backup tool."""

__version__ = "1.0.0"
