variable "delta_log_table" {
  description = "Delta's S3DynamoDBLogStore table (conf storage.dynamodb_table)."
  type        = string
}

variable "lock_table" {
  description = "The lake's writer lock (conf lock.table; lakehouse/io/lake_lock.py)."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the tables (on in prod: losing the log store loses uncommitted commits)."
  type        = bool
}
