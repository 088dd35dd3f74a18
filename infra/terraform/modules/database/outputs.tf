output "address" {
  description = "The database's host name (private)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "The database's port."
  value       = aws_db_instance.this.port
}

output "security_group_id" {
  description = "The database's security group (PostgreSQL from the cluster only)."
  value       = aws_security_group.database.id
}

output "instance_arn" {
  description = "ARN of the RDS instance."
  value       = aws_db_instance.this.arn
}
