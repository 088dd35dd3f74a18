output "primary_endpoint" {
  description = "The primary's host name (private); the service reads the whole URL from the secret."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "port" {
  description = "Redis's port."
  value       = local.port
}

output "security_group_id" {
  description = "The store's security group (Redis from the cluster only)."
  value       = aws_security_group.online_store.id
}
