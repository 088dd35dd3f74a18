variable "name" {
  description = "Prefix of the KMS key's alias, e.g. lakehouse-staging."
  type        = string
}

variable "hmac_key_secret" {
  description = "The PII tokenization key's secret: a JSON document with an hmac_key field (conf secrets.hmac_key, before its #field)."
  type        = string
}

variable "api_keys_secret" {
  description = "The prediction service's hashed API keys (conf secrets.api_keys)."
  type        = string
}

variable "metrics_scraper_secret" {
  description = "The admin API key Prometheus sends to /metrics, field api_key (a Kubernetes Secret through the External Secrets Operator)."
  type        = string
}

variable "mlflow_db_secret" {
  description = "The tracking server's backend-store URL with its password, field uri (a Kubernetes Secret through the External Secrets Operator)."
  type        = string
}

variable "online_store_secret" {
  description = "The prediction service's online store URL with its AUTH token, field url (conf secrets.online_store_url, before its #field)."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored (7 to 30)."
  type        = number

  validation {
    condition     = var.recovery_window_days >= 7 && var.recovery_window_days <= 30
    error_message = "Secrets Manager keeps a deleted secret 7 to 30 days."
  }
}
