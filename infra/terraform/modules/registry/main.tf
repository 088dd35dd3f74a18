# The container registry CI pushes to (.github/workflows/release.yml): one ECR repository per
# image the overlays name (infra/k8s/overlays/<env>/kustomization.yaml, `images:`). Tags are
# immutable, every push is scanned, images are encrypted with a KMS key of this module's.
#
# Lifecycle: CI pushes by digest only, so every image is untagged, and the clusters pull by
# digest whenever a pod is (re)scheduled -- including the digest prod still runs after staging
# moved on, or after a rollback. An age-based rule could expire that digest while it runs;
# so the rule is count-based: the newest `keep_images` untagged images are always kept, and only
# older ones go. A release pushes several manifests (the image index, the image, its provenance
# attestation), so keep_images counts manifests, not releases.

resource "aws_kms_key" "images" {
  description             = "${var.name}: container images in ECR"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "images" {
  name          = "alias/${var.name}-ecr"
  target_key_id = aws_kms_key.images.key_id
}

resource "aws_ecr_repository" "this" {
  for_each = var.repositories

  name                 = each.key
  image_tag_mutability = "IMMUTABLE"
  # a repository with images is never deleted by accident
  force_delete = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.images.arn
  }
}

data "aws_ecr_lifecycle_policy_document" "keep_recent" {
  rule {
    priority    = 1
    description = "Expire untagged images beyond the newest ${var.keep_images}"

    selection {
      tag_status   = "untagged"
      count_type   = "imageCountMoreThan"
      count_number = var.keep_images
    }

    action {
      type = "expire"
    }
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy     = data.aws_ecr_lifecycle_policy_document.keep_recent.json
}

# Cross-account pulls: prod's ci-build role copies the digests staging tested into prod's
# registry (`crane copy`, .github/workflows/release.yml), so staging's repositories let that
# role pull, and nothing more. No policy when nobody else pulls.
data "aws_iam_policy_document" "pull" {
  statement {
    sid    = "CopyToAnotherAccount"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]

    principals {
      type        = "AWS"
      identifiers = var.pull_principal_arns
    }
  }
}

resource "aws_ecr_repository_policy" "pull" {
  for_each = length(var.pull_principal_arns) > 0 ? aws_ecr_repository.this : {}

  repository = each.value.name
  policy     = data.aws_iam_policy_document.pull.json
}
