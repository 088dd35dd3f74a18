output "delta_log_table" {
  description = "Delta's log store table (spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName)."
  value       = aws_dynamodb_table.delta_log.name
}

output "delta_log_table_arn" {
  description = "ARN of Delta's log store table."
  value       = aws_dynamodb_table.delta_log.arn
}

output "lock_table_arn" {
  description = "ARN of the lake's writer-lock table."
  value       = aws_dynamodb_table.lake_lock.arn
}
