output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "One private subnet per zone: the cluster's nodes and its control-plane interfaces."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "One public subnet per zone: NAT gateways and internet-facing load balancers."
  value       = aws_subnet.public[*].id
}
