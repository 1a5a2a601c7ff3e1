"""Object storage: the S3 client every part uses (recorder uploads, operator retention, download links)."""
