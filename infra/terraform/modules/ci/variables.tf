variable "name" {
  description = "Prefix of the roles' names, e.g. lakehouse-staging."
  type        = string
}

variable "github_repository" {
  description = "The GitHub repository whose workflows may assume the roles, as owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository is owner/name, without wildcards."
  }
}

variable "github_environment" {
  description = "The GitHub environment the release workflow deploys this env in (release.yml: staging, production)."
  type        = string
}

variable "serving_repository_arn" {
  description = "The lakehouse-serving image's ECR repository (modules/registry)."
  type        = string
}

variable "jobs_repository_arn" {
  description = "The lakehouse-jobs image's ECR repository (modules/registry)."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster the deploy role applies to (modules/eks)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the EKS cluster (eks:DescribeCluster, for `aws eks update-kubeconfig`)."
  type        = string
}
