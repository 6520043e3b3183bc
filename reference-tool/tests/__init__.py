import io

from btrfs_to_s3 import logs

# Tests capture the records they check; everything else stays quiet.
logs.setup("CRITICAL", stream=io.StringIO())
