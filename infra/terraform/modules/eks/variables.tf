variable "cluster_name" {
  description = "The EKS cluster's name."
  type        = string
}

variable "kubernetes_version" {
  description = "The control plane's Kubernetes minor version, e.g. 1.36 (infra/tools/k8s_schemas.py validates the manifests for the same)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two zones) for the control plane's interfaces and the nodes."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "Addresses allowed to reach the API server from the internet; empty keeps it private (VPC only)."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "The API server must not be open to the whole internet: list the operators' ranges."
  }
}

variable "node_groups" {
  description = <<-EOT
    Managed node groups by name: instance types, ON_DEMAND or SPOT, sizes, disk (GiB) and labels.
    The `system` group runs the service and MLflow; Spark drivers and executors go where the
    jobs' node selectors say (e.g. a `spark` group).
  EOT
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    min_size       = number
    desired_size   = number
    max_size       = number
    disk_size_gib  = number
    labels         = map(string)
  }))

  validation {
    condition     = alltrue([for group in values(var.node_groups) : contains(["ON_DEMAND", "SPOT"], group.capacity_type)])
    error_message = "capacity_type is ON_DEMAND or SPOT."
  }
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin through EKS access entries (no aws-auth ConfigMap)."
  type        = set(string)
  default     = []
}

variable "log_retention_days" {
  description = "How long the control plane's audit and API logs are kept in CloudWatch."
  type        = number
}
