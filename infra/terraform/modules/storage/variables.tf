variable "data_bucket" {
  description = "The bucket of the lake and landing roots (conf/<env>/lakehouse.yml: lake_root, landing_root)."
  type        = string
}

variable "landing_prefix" {
  description = "The landing zone's key prefix in data_bucket (landing_root's path), without slashes."
  type        = string
}

variable "lake_prefix" {
  description = "The lake's key prefix in data_bucket (lake_root's path), without slashes."
  type        = string
}

variable "artifacts_bucket" {
  description = "The MLflow tracking server's artifact store (`mlflow server --artifacts-destination s3://<bucket>/artifacts`)."
  type        = string
}

variable "vacuum_retention_hours" {
  description = <<-EOT
    The lake's VACUUM horizon: conf ml.maintain.min_retention_hours plus safety_margin_s (in
    hours). Delta may still read a removed file this long; a deleted object's noncurrent
    version must outlive it.
  EOT
  type        = number
}

variable "noncurrent_version_days" {
  description = "Days a deleted or overwritten lake or artifact object stays recoverable as a noncurrent version."
  type        = number
}

variable "landing_expiration_days" {
  description = "Days a landed file is kept; the landing zone holds personal data in clear (docs/PRIVACY.md)."
  type        = number
}

variable "landing_noncurrent_days" {
  description = "Days an overwritten or deleted landed file stays recoverable."
  type        = number
}

variable "erasure_deadline_days" {
  description = "Days within which an erasure request must be complete; no copy of erased data may outlive it."
  type        = number
}

variable "lake_tiering_days" {
  description = "Days after which current lake objects move to INTELLIGENT_TIERING (still read instantly)."
  type        = number
}

variable "force_destroy" {
  description = "Let `destroy` delete non-empty buckets (never in prod)."
  type        = bool
  default     = false
}
