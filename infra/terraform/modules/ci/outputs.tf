output "build_role_arn" {
  description = "GitHub environment variable AWS_BUILD_ROLE_ARN: push and pull the images."
  value       = aws_iam_role.build.arn
}

output "deploy_role_arn" {
  description = "GitHub environment variable AWS_DEPLOY_ROLE_ARN: deploy to the cluster."
  value       = aws_iam_role.deploy.arn
}
