# GitHub Actions' way into the account (.github/workflows/release.yml): no static keys, an IAM
# OIDC provider for GitHub's token issuer and two roles the workflow assumes with its token
# (aws-actions/configure-aws-credentials, role-to-assume). Every job that assumes one runs in
# the env's GitHub environment (staging or production), whose variables hold the role ARNs, and
# which accepts deployments from main only (its protection rules); so both roles trust that
# environment's subject and nothing else:
#
#   build   (AWS_BUILD_ROLE_ARN)   push and pull the env's two repositories. Staging: the build
#                                  job pushes the images by digest, the scan job pulls them.
#                                  Prod: the copy job pushes staging's digests into prod's
#                                  registry with `crane copy`, so it may also pull the
#                                  repositories of `source_repository_arns` (staging's, which
#                                  let this role in through their repository policy,
#                                  modules/registry `pull_principal_arns`)
#   deploy  (AWS_DEPLOY_ROLE_ARN)  find the cluster (eks:DescribeCluster), apply the overlay
#                                  (an EKS access entry), pull the job image (the smoke test in
#                                  staging, the canary judge in prod)
#
# GitHub's token names the repository and the environment in `sub`; it is compared with
# StringEquals, never a pattern. A role is named <name>-ci-<key>.

data "aws_partition" "current" {}

locals {
  github_issuer = "token.actions.githubusercontent.com"
  environment   = "repo:${var.github_repository}:environment:${var.github_environment}"
}

# One per account. No thumbprint: IAM verifies GitHub's issuer through its own trusted
# certificate authorities.
resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://${local.github_issuer}"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "build_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:sub"
      values   = [local.environment]
    }
  }
}

data "aws_iam_policy_document" "deploy_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:sub"
      values   = [local.environment]
    }
  }
}

resource "aws_iam_role" "build" {
  name                 = "${var.name}-ci-build"
  description          = "GitHub Actions (${var.github_repository}, environment ${var.github_environment}): push and pull the images"
  assume_role_policy   = data.aws_iam_policy_document.build_trust.json
  max_session_duration = 3600
}

resource "aws_iam_role" "deploy" {
  name                 = "${var.name}-ci-deploy"
  description          = "GitHub Actions (${var.github_repository}, environment ${var.github_environment}): deploy to the cluster"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "build" {
  # ecr:GetAuthorizationToken (docker login to the registry) has no resource-level
  # permissions: IAM accepts it only on "*". What the token may then do is limited below.
  statement {
    sid       = "RegistryLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid    = "PushAndPullImages"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
      "ecr:PutImage",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.serving_repository_arn, var.jobs_repository_arn, var.mlflow_repository_arn]
  }
}

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "FindCluster"
    effect    = "Allow"
    actions   = ["eks:DescribeCluster"]
    resources = [var.cluster_arn]
  }

  # ecr:GetAuthorizationToken has no resource-level permissions (see build)
  statement {
    sid       = "RegistryLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid    = "PullImages"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.serving_repository_arn, var.jobs_repository_arn]
  }
}

# Prod's copy of staging's digests: pull from the source account's repositories. Attached only
# when there are some (an IAM statement needs a resource).
data "aws_iam_policy_document" "build_source" {
  statement {
    sid    = "PullSourceImages"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = var.source_repository_arns
  }
}

resource "aws_iam_role_policy" "build" {
  name   = "ci-build"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.build.json
}

resource "aws_iam_role_policy" "build_source" {
  count = length(var.source_repository_arns) > 0 ? 1 : 0

  name   = "ci-build-source"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.build_source.json
}

resource "aws_iam_role_policy" "deploy" {
  name   = "ci-deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

# Kubernetes' side of the deploy: the workflow applies the rendered overlay, which holds
# cluster-scoped objects (the Namespaces), so a namespace-scoped access policy is not enough.
resource "aws_eks_access_entry" "deploy" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.deploy.arn
}

resource "aws_eks_access_policy_association" "deploy" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.deploy.arn
  policy_arn    = "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.deploy]
}
