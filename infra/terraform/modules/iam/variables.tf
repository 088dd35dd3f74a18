variable "name" {
  description = "Prefix of the roles' names, e.g. lakehouse-staging."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The cluster's IAM OIDC provider (modules/eks)."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's issuer without https:// (modules/eks), the prefix of the IRSA condition keys."
  type        = string
}

variable "data_bucket_arn" {
  description = "The bucket holding the landing zone and the lake (modules/storage)."
  type        = string
}

variable "landing_prefix" {
  description = "The landing zone's key prefix in the data bucket, without slashes."
  type        = string
}

variable "lake_prefix" {
  description = "The lake's key prefix in the data bucket, without slashes."
  type        = string
}

variable "data_kms_key_arn" {
  description = "The data bucket's KMS key."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "The MLflow artifact store's bucket."
  type        = string
}

variable "artifacts_kms_key_arn" {
  description = "The artifact bucket's KMS key."
  type        = string
}

variable "delta_log_table_arn" {
  description = "Delta's S3DynamoDBLogStore table (modules/log_store)."
  type        = string
}

variable "lock_table_arn" {
  description = "The lake's writer-lock table (modules/log_store)."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "The secrets' KMS key (modules/secrets)."
  type        = string
}

variable "hmac_key_secret_arn" {
  description = "The PII tokenization key's secret (jobs only)."
  type        = string
}

variable "api_keys_secret_arn" {
  description = "The prediction service's API keys secret (service only)."
  type        = string
}

variable "online_store_secret_arn" {
  description = "The prediction service's online store URL secret (service only)."
  type        = string
}

variable "metrics_scraper_secret_arn" {
  description = "The metrics scraper's API key secret (the lakehouse namespace's secrets reader only)."
  type        = string
}

variable "mlflow_db_secret_arn" {
  description = "The tracking server's backend-store secret (the mlops namespace's secrets reader only)."
  type        = string
}
