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

variable "mlflow_repository_arn" {
  description = "The lakehouse-mlflow image's ECR repository (modules/registry): the tracking server, built by the release like the other two."
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

variable "source_repository_arns" {
  description = "ECR repositories of another account whose images the build role copies into this env's (prod: staging's lakehouse-serving, lakehouse-jobs and lakehouse-mlflow); empty: none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.source_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/[a-z0-9._/-]+$", arn))])
    error_message = "source_repository_arns are ECR repository ARNs, without wildcards."
  }
}
