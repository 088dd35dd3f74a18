variable "name" {
  description = "Prefix of the KMS key's alias, e.g. lakehouse-staging."
  type        = string
}

variable "repositories" {
  description = "The repositories, named as the overlays' `images:` name the images (lakehouse-serving, lakehouse-jobs)."
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
