# One IAM role per workload, assumed by its Kubernetes service account through the cluster's
# OIDC provider (IRSA): the pod's `eks.amazonaws.com/role-arn` annotation names the role and
# the AWS SDKs' web-identity provider exchanges the projected token for short-lived
# credentials, so no static AWS key exists anywhere. Every permission names its actions and
# resources:
#
#   jobs                   read landing/, read and write lake/, the Delta log store and lake
#                          lock tables, the PII key
#   serving                read the Silver tables the service loads (never Bronze, quarantine,
#                          Gold, audit or the rest of lake/), the API keys' hashes; it never
#                          holds the PII key, and reads models through the tracking server
#   mlflow                 read and write the model artifacts
#   secrets_reader         the External Secrets Operator in `lakehouse`: the metrics scraper's
#                          API key
#   mlflow_secrets_reader  the External Secrets Operator in `mlops`: the backend-store URL
#
# A role is named <name>-<key> with `-` for `_` (infra/k8s/overlays/<env>/roles.yaml).
#
# Listing: S3 answers a HEAD of a missing key with 404 only to a caller that may list the
# bucket (otherwise 403, which S3A and deltalake treat as a failure), and a HEAD carries no
# s3:prefix for a condition to match; so s3:ListBucket is on the whole data bucket. It shows
# key names, never content: reading is limited by prefix.

data "aws_region" "current" {}

locals {
  service_accounts = {
    jobs    = { namespace = "lakehouse", name = "lakehouse-jobs" }
    serving = { namespace = "lakehouse", name = "lakehouse-serving" }
    mlflow  = { namespace = "mlops", name = "mlflow" }
    # the External Secrets Operator's stores, one per namespace
    secrets_reader        = { namespace = "lakehouse", name = "secrets-reader" }
    mlflow_secrets_reader = { namespace = "mlops", name = "secrets-reader" }
  }

  landing_objects  = "${var.data_bucket_arn}/${var.landing_prefix}/*"
  lake             = "${var.data_bucket_arn}/${var.lake_prefix}"
  lake_objects     = "${local.lake}/*"
  artifact_objects = "${var.artifacts_bucket_arn}/*"

  # KMS keys are usable only through the service that stores the data
  s3_service      = "s3.${data.aws_region.current.region}.amazonaws.com"
  secrets_service = "secretsmanager.${data.aws_region.current.region}.amazonaws.com"
}

data "aws_iam_policy_document" "trust" {
  for_each = local.service_accounts

  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.name}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.service_accounts

  name                 = "${var.name}-${replace(each.key, "_", "-")}"
  description          = "IRSA: service account ${each.value.namespace}/${each.value.name}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
}

# --- jobs: spark-submit runs of ingest, silver, gold, train, score, maintain, forget -------

data "aws_iam_policy_document" "jobs" {
  statement {
    sid       = "ListDataBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.data_bucket_arn]
  }

  statement {
    sid       = "ReadLanding"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.landing_objects]
  }

  # Delta writes, VACUUMs and erases files; streams keep checkpoints; ingest salvages
  statement {
    sid    = "ReadWriteLake"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [local.lake_objects]
  }

  statement {
    sid       = "UseDataKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.data_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_service]
    }
  }

  # io.delta.storage.S3DynamoDBLogStore: describeTable, getItem, putItem, query
  statement {
    sid       = "DeltaLogStore"
    effect    = "Allow"
    actions   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [var.delta_log_table_arn]
  }

  # lakehouse/io/lake_lock.py: a conditional put, lease renewals, the release
  statement {
    sid    = "LakeLock"
    effect = "Allow"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
    ]
    resources = [var.lock_table_arn]
  }

  statement {
    sid       = "ReadPiiKey"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.hmac_key_secret_arn]
  }

  statement {
    sid       = "DecryptSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secrets_service]
    }
  }
}

resource "aws_iam_role_policy" "jobs" {
  name   = "lakehouse-jobs"
  role   = aws_iam_role.this["jobs"].id
  policy = data.aws_iam_policy_document.jobs.json
}

# --- serving: the prediction service ----------------------------------------------------
#
# It reads, with deltalake (no Spark), the Silver tables its online features load
# (serving/state.py, lakehouse/features/*_online.py): the delivery reference data and the
# fraud model's account history and velocity state. Nothing else of the lake: not Bronze or
# quarantine (personal data in clear text, docs/PRIVACY.md), not Gold (the models learn from
# it, the service does not read it), not audit/ or _mlflow/; it writes only its inference
# log's files. Models, their profiles and
# aliases come from the tracking server, which proxies the artifact store
# (--artifacts-destination), so the role has no right on the artifact bucket.
# tests/infra/test_terraform.py compares these prefixes with the tables the code reads.

data "aws_iam_policy_document" "serving" {
  statement {
    sid       = "ListDataBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.data_bucket_arn]
  }

  statement {
    sid     = "ReadServedSilverTables"
    effect  = "Allow"
    actions = ["s3:GetObject"]
    resources = [
      # delivery: the reference data (serving/state.py REFERENCE_TABLES)
      "${local.lake}/silver/zip_codes/*",
      "${local.lake}/silver/warehouses/*",
      "${local.lake}/silver/holidays/*",
      # fraud: the account history (ACCOUNT_TABLES) and the velocity state's warm start
      "${local.lake}/silver/accounts/*",
      "${local.lake}/silver/risk_intervals/*",
      "${local.lake}/silver/payment_transactions/*",
    ]
  }

  # its answers, as Parquet files that `lakehouse ingest` appends to audit/inference_log
  # (serving/inference_log.py): new objects under one prefix, no reading them back
  statement {
    sid       = "WriteInferenceLog"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake}/_inference_log/*"]
  }

  statement {
    sid       = "DecryptLake"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.data_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_service]
    }
  }

  statement {
    sid       = "EncryptInferenceLog"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.data_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_service]
    }
  }

  statement {
    sid       = "ReadApiKeys"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.api_keys_secret_arn]
  }

  statement {
    sid       = "ReadOnlineStoreUrl"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.online_store_secret_arn]
  }

  statement {
    sid       = "DecryptSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secrets_service]
    }
  }
}

resource "aws_iam_role_policy" "serving" {
  name   = "lakehouse-serving"
  role   = aws_iam_role.this["serving"].id
  policy = data.aws_iam_policy_document.serving.json
}

# --- mlflow: the tracking server, which stores the artifacts clients send it --------------

data "aws_iam_policy_document" "mlflow" {
  statement {
    sid       = "ListArtifacts"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
  }

  statement {
    sid    = "ReadWriteArtifacts"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [local.artifact_objects]
  }

  statement {
    sid       = "UseArtifactsKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.artifacts_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_service]
    }
  }

}

resource "aws_iam_role_policy" "mlflow" {
  name   = "mlflow"
  role   = aws_iam_role.this["mlflow"].id
  policy = data.aws_iam_policy_document.mlflow.json
}

# --- the External Secrets Operator's stores: one secret each ------------------------------

data "aws_iam_policy_document" "secrets_reader" {
  statement {
    sid       = "ReadMetricsScraperKey"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.metrics_scraper_secret_arn]
  }

  statement {
    sid       = "DecryptSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secrets_service]
    }
  }
}

resource "aws_iam_role_policy" "secrets_reader" {
  name   = "secrets-reader"
  role   = aws_iam_role.this["secrets_reader"].id
  policy = data.aws_iam_policy_document.secrets_reader.json
}

data "aws_iam_policy_document" "mlflow_secrets_reader" {
  statement {
    sid       = "ReadBackendStoreUrl"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.mlflow_db_secret_arn]
  }

  statement {
    sid       = "DecryptSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secrets_service]
    }
  }
}

resource "aws_iam_role_policy" "mlflow_secrets_reader" {
  name   = "mlflow-secrets-reader"
  role   = aws_iam_role.this["mlflow_secrets_reader"].id
  policy = data.aws_iam_policy_document.mlflow_secrets_reader.json
}
