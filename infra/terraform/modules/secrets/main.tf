# The secrets the code reads itself (lakehouse/secrets.py: the PII key, the API keys' hashes,
# the online store's URL) and the two the External Secrets Operator turns into Kubernetes
# Secrets (infra/k8s), under a KMS key of their own. Only the containers are made here: values
# are put with `aws secretsmanager put-secret-value` (README), so no secret is ever in the code
# or the Terraform state -- except two URLs whose host and password only Terraform knows: the
# backend store's (mlflow_db, written by modules/database) and the online store's
# (online_store, written by modules/online_store).

resource "aws_kms_key" "secrets" {
  description             = "${var.name}: Secrets Manager secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

resource "aws_secretsmanager_secret" "hmac_key" {
  name                    = var.hmac_key_secret
  description             = "PII tokenization key: {\"hmac_key\": \"...\"} (lakehouse/privacy.py)"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "api_keys" {
  name                    = var.api_keys_secret
  description             = "The prediction service's hashed API keys: {\"keys\": [...]} (`lakehouse api-key create`)"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "metrics_scraper" {
  name                    = var.metrics_scraper_secret
  description             = "The admin API key Prometheus sends to /metrics: {\"api_key\": \"...\"}"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "mlflow_db" {
  name                    = var.mlflow_db_secret
  description             = "The tracking server's backend store: {\"uri\": \"postgresql+psycopg2://...\"}"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "online_store" {
  name                    = var.online_store_secret
  description             = "The prediction service's shared online store: {\"url\": \"rediss://...\"}"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
}
