output "kms_key_arn" {
  description = "The key the secrets are encrypted with."
  value       = aws_kms_key.secrets.arn
}

output "hmac_key_secret_arn" {
  description = "ARN of the PII tokenization key's secret."
  value       = aws_secretsmanager_secret.hmac_key.arn
}

output "api_keys_secret_arn" {
  description = "ARN of the prediction service's API keys secret."
  value       = aws_secretsmanager_secret.api_keys.arn
}

output "metrics_scraper_secret_arn" {
  description = "ARN of the metrics scraper's API key secret."
  value       = aws_secretsmanager_secret.metrics_scraper.arn
}

output "mlflow_db_secret_arn" {
  description = "ARN of the tracking server's backend-store secret."
  value       = aws_secretsmanager_secret.mlflow_db.arn
}

output "online_store_secret_arn" {
  description = "ARN of the online store's URL secret."
  value       = aws_secretsmanager_secret.online_store.arn
}
