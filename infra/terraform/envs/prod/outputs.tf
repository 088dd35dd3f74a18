output "cluster_name" {
  description = "`aws eks update-kubeconfig --name <this>`"
  value       = module.eks.cluster_name
}

output "jobs_role_arn" {
  description = "eks.amazonaws.com/role-arn of service account lakehouse/lakehouse-jobs."
  value       = module.iam.jobs_role_arn
}

output "serving_role_arn" {
  description = "eks.amazonaws.com/role-arn of service account lakehouse/lakehouse-serving."
  value       = module.iam.serving_role_arn
}

output "mlflow_role_arn" {
  description = "eks.amazonaws.com/role-arn of service account mlops/mlflow."
  value       = module.iam.mlflow_role_arn
}

output "service_account_annotations" {
  description = "namespace/serviceaccount -> its annotations."
  value       = module.iam.service_account_annotations
}

output "lake_root" {
  description = "conf lake_root."
  value       = "s3a://${module.storage.data_bucket}/${local.lake_prefix}"
}

output "landing_root" {
  description = "conf landing_root."
  value       = "s3a://${module.storage.data_bucket}/${local.landing_prefix}"
}

output "mlflow_artifacts_destination" {
  description = "`mlflow server --artifacts-destination <this>`."
  value       = "s3://${module.storage.artifacts_bucket}/artifacts"
}

output "delta_log_table" {
  description = "conf storage.dynamodb_table."
  value       = module.log_store.delta_log_table
}

output "secrets_reader_role_arn" {
  description = "eks.amazonaws.com/role-arn of service account lakehouse/secrets-reader (External Secrets Operator)."
  value       = module.iam.secrets_reader_role_arn
}

output "mlflow_secrets_reader_role_arn" {
  description = "eks.amazonaws.com/role-arn of service account mlops/secrets-reader (External Secrets Operator)."
  value       = module.iam.mlflow_secrets_reader_role_arn
}

output "mlflow_database_address" {
  description = "The MLflow backend store's host (private); its URL is in the mlflow-db secret."
  value       = module.database.address
}

output "repository_urls" {
  description = "Image name -> ECR repository URL: the overlay's `images:` newName."
  value       = module.registry.repository_urls
}

output "repository_arns" {
  description = "Image name -> ECR repository ARN (staging's: prod's source_repository_arns)."
  value       = module.registry.repository_arns
}

output "registry" {
  description = "GitHub environment variable ECR_REGISTRY: the registry host of the repositories."
  value       = split("/", module.registry.repository_urls[local.serving_image])[0]
}

output "ci_build_role_arn" {
  description = "GitHub environment variable AWS_BUILD_ROLE_ARN (push and pull the images)."
  value       = module.ci.build_role_arn
}

output "ci_deploy_role_arn" {
  description = "GitHub environment variable AWS_DEPLOY_ROLE_ARN (deploy to the cluster)."
  value       = module.ci.deploy_role_arn
}
