variable "name" {
  description = "Prefix of the resources' names, e.g. lakehouse-staging."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the cluster (modules/network)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones (modules/network); the server gets no public address."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The only security group allowed to reach Redis: the EKS cluster's, on its managed nodes (modules/eks)."
  type        = string
}

variable "url_secret_arn" {
  description = "The secret the service reads the store's URL from, field url (modules/secrets: lakehouse/<env>/online-store)."
  type        = string
}

variable "engine_version" {
  description = "Redis's version on ElastiCache (minor versions are upgraded in the maintenance window)."
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "The cache node type, e.g. cache.t4g.small; sized for the velocity windows' transactions."
  type        = string
}

variable "replicas" {
  description = "Read replicas in other zones; with one or more, a failed primary is replaced automatically."
  type        = number

  validation {
    condition     = var.replicas >= 0 && var.replicas <= 5
    error_message = "A replication group has a primary and 0 to 5 replicas."
  }
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots (0: none; the state is fed again from Silver when lost)."
  type        = number
}
