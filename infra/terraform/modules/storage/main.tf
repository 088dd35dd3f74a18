# Object storage: the data bucket holding the landing zone and the lake under the prefixes
# conf/<env>/lakehouse.yml names (landing_root, lake_root), and the MLflow artifact store.
# Every bucket: its own KMS key, versioning, all public access blocked, ACLs disabled, a policy
# refusing requests without TLS 1.2+, and lifecycle rules that never expire an object the lake
# or the registry still reads.

locals {
  landing_filter = "${var.landing_prefix}/"
  lake_filter    = "${var.lake_prefix}/"
  # multipart uploads a killed writer left behind
  abort_multipart_days = 7
}

# --- data: landing zone + lake -----------------------------------------------------------

resource "aws_kms_key" "data" {
  description             = "${var.data_bucket}: landing zone and lake objects"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.data_bucket}-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_s3_bucket" "data" {
  bucket        = var.data_bucket
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    # one data key per bucket instead of a KMS call per object
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "data_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOutdatedTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = data.aws_iam_policy_document.data_tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.data]
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  # The lake: no current object ever expires (Delta alone decides what a table still needs:
  # VACUUM after its retention, the commit log after delta.logRetentionDuration). A file
  # Delta deleted stays recoverable as a noncurrent version for longer than the VACUUM
  # horizon, and is gone before the erasure deadline.
  rule {
    id     = "lake"
    status = "Enabled"

    filter {
      prefix = local.lake_filter
    }

    transition {
      days          = var.lake_tiering_days
      storage_class = "INTELLIGENT_TIERING"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    # only removes delete markers whose noncurrent versions have all expired
    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = local.abort_multipart_days
    }
  }

  # The landing zone: files are read once by ingest, and hold personal data in clear text.
  rule {
    id     = "landing"
    status = "Enabled"

    filter {
      prefix = local.landing_filter
    }

    expiration {
      days = var.landing_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.landing_noncurrent_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = local.abort_multipart_days
    }
  }

  lifecycle {
    precondition {
      condition     = var.noncurrent_version_days * 24 > var.vacuum_retention_hours
      error_message = "noncurrent_version_days must be longer than the lake's VACUUM retention (vacuum_retention_hours)."
    }
    precondition {
      condition     = var.noncurrent_version_days < var.erasure_deadline_days
      error_message = "Deleted lake files must expire before the erasure deadline (noncurrent_version_days < erasure_deadline_days)."
    }
    precondition {
      condition     = var.landing_expiration_days + var.landing_noncurrent_days < var.erasure_deadline_days
      error_message = "Landed files and their noncurrent versions must be gone before the erasure deadline."
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

# --- artifacts: the MLflow tracking server's models ---------------------------------------

resource "aws_kms_key" "artifacts" {
  description             = "${var.artifacts_bucket}: MLflow artifacts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${var.artifacts_bucket}"
  target_key_id = aws_kms_key.artifacts.key_id
}

resource "aws_s3_bucket" "artifacts" {
  bucket        = var.artifacts_bucket
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.artifacts.arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "artifacts_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOutdatedTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  # Registered models are kept until MLflow deletes them; what it (or `lakehouse forget`,
  # removing input examples) deleted stays recoverable for a while, then goes.
  rule {
    id     = "artifacts"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = local.abort_multipart_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}
