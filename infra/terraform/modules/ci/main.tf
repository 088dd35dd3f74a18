# GitHub Actions' way into the account (.github/workflows/release.yml): no static keys, an IAM
# OIDC provider for GitHub's token issuer and two roles the workflow assumes with its token
# (aws-actions/configure-aws-credentials, role-to-assume):
#
#   build   (vars.AWS_BUILD_ROLE_ARN)  push and pull the images; trusted by the workflow on this
#                                      repository's main branch (the build job has no
#                                      environment) and in the env's GitHub environment (the
#                                      smoke test pulls the job image)
#   deploy  (vars.AWS_DEPLOY_ROLE_ARN) find the cluster (eks:DescribeCluster), apply the overlay
#                                      (an EKS access entry), pull the job image (the canary
#                                      judge); trusted only in the env's GitHub environment,
#                                      which accepts deployments from main only (its protection
#                                      rules)
#
# GitHub's token names the repository and the branch or environment in `sub`; it is compared
# with StringEquals, never a pattern. A role is named <name>-ci-<key>.

data "aws_partition" "current" {}

locals {
  github_issuer = "token.actions.githubusercontent.com"
  main_branch   = "repo:${var.github_repository}:ref:refs/heads/main"
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
      values   = [local.main_branch, local.environment]
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
  description          = "GitHub Actions (${var.github_repository}, main): push and pull the images"
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
    resources = [var.serving_repository_arn, var.jobs_repository_arn]
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

resource "aws_iam_role_policy" "build" {
  name   = "ci-build"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.build.json
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
