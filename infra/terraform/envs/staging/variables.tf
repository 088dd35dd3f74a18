variable "region" {
  description = "The AWS region of every resource (conf/staging has no storage.s3_region: the pods get AWS_REGION)."
  type        = string
  default     = "eu-west-1"
}

variable "admin_role_arns" {
  description = "IAM roles that administer the cluster (EKS access entries)."
  type        = set(string)
  default     = []
}

variable "public_access_cidrs" {
  description = "Operator address ranges allowed to reach the Kubernetes API from the internet; empty: VPC only."
  type        = list(string)
  default     = []
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose release workflow may assume the CI roles."
  type        = string
}

variable "image_copy_role_arns" {
  description = "Roles of other accounts that copy this env's images (prod's ci_build_role_arn output); empty until prod exists."
  type        = list(string)
  default     = []
}
