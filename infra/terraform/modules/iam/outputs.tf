output "jobs_role_arn" {
  description = "Annotate service account lakehouse/lakehouse-jobs with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.this["jobs"].arn
}

output "serving_role_arn" {
  description = "Annotate service account lakehouse/lakehouse-serving with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.this["serving"].arn
}

output "mlflow_role_arn" {
  description = "Annotate service account mlops/mlflow with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.this["mlflow"].arn
}

output "secrets_reader_role_arn" {
  description = "Annotate service account lakehouse/secrets-reader (External Secrets Operator) with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.this["secrets_reader"].arn
}

output "mlflow_secrets_reader_role_arn" {
  description = "Annotate service account mlops/secrets-reader (External Secrets Operator) with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.this["mlflow_secrets_reader"].arn
}

output "service_account_annotations" {
  description = "namespace/serviceaccount -> the annotations that bind it to its role."
  value = {
    for key, account in local.service_accounts :
    "${account.namespace}/${account.name}" => { "eks.amazonaws.com/role-arn" = aws_iam_role.this[key].arn }
  }
}
