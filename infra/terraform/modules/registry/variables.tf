variable "name" {
  description = "Prefix of the KMS key's alias, e.g. lakehouse-staging."
  type        = string
}

variable "repositories" {
  description = "The repositories, named as the overlays' `images:` name the images (lakehouse-serving, lakehouse-jobs, lakehouse-mlflow)."
  type        = set(string)
}

variable "keep_images" {
  description = "Untagged images (manifests) always kept per repository, newest first; only older ones expire."
  type        = number

  validation {
    condition     = var.keep_images >= 100
    error_message = "Keep at least 100 images: prod may run a digest many releases old (a stalled or rolled-back release)."
  }
}

variable "pull_principal_arns" {
  description = "IAM roles of other accounts that may pull these repositories (staging: prod's ci-build role, which copies the tested digests); empty: none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.pull_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_-]+$", arn))])
    error_message = "pull_principal_arns are IAM role ARNs, without wildcards."
  }
}
