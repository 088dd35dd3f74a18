variable "name" {
  description = "Prefix of the resources' names, e.g. lakehouse-staging."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the cluster (modules/network)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones (modules/network); the database gets no public address."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The only security group allowed to reach PostgreSQL: the EKS cluster's, on its managed nodes (modules/eks)."
  type        = string
}

variable "backend_store_secret_arn" {
  description = "The secret infra/k8s reads the backend store's URL from, field uri (modules/secrets: lakehouse/<env>/mlflow-db)."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL's major version (minor versions are upgraded in the maintenance window)."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "The RDS instance class, e.g. db.t4g.medium."
  type        = string
}

variable "allocated_storage_gib" {
  description = "Initial storage in GiB."
  type        = number
}

variable "max_allocated_storage_gib" {
  description = "RDS grows the storage up to this many GiB by itself."
  type        = number
}

variable "multi_az" {
  description = "A standby in a second zone, failed over to automatically."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "RDS keeps automated backups 1 to 35 days; 0 would turn backups off."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (on in prod)."
  type        = bool
}

variable "final_snapshot" {
  description = "Take a snapshot when the instance is deleted (on in prod)."
  type        = bool
}

variable "iam_authentication" {
  description = "Also accept IAM database authentication tokens (the tracking server uses the password)."
  type        = bool
  default     = false
}

variable "database_name" {
  description = "The database MLflow creates its tables in."
  type        = string
  default     = "mlflow"
}

variable "username" {
  description = "The master user, which the tracking server connects as."
  type        = string
  default     = "mlflow"
}
