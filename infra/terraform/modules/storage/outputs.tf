output "data_bucket" {
  description = "The landing zone's and the lake's bucket."
  value       = aws_s3_bucket.data.id
}

output "data_bucket_arn" {
  description = "ARN of the landing zone's and the lake's bucket."
  value       = aws_s3_bucket.data.arn
}

output "data_kms_key_arn" {
  description = "The data bucket's KMS key."
  value       = aws_kms_key.data.arn
}

output "artifacts_bucket" {
  description = "The MLflow artifact store's bucket."
  value       = aws_s3_bucket.artifacts.id
}

output "artifacts_bucket_arn" {
  description = "ARN of the MLflow artifact store's bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "artifacts_kms_key_arn" {
  description = "The artifact bucket's KMS key."
  value       = aws_kms_key.artifacts.arn
}
