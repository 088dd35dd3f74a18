output "cluster_name" {
  description = "The EKS cluster's name (`aws eks update-kubeconfig --name ...`)."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "The Kubernetes API server's URL."
  value       = aws_eks_cluster.this.endpoint
}

output "oidc_provider_arn" {
  description = "The IAM OIDC provider of the cluster's service-account issuer (IRSA)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "The issuer without its scheme, as IAM condition keys name it (oidc.eks.<region>.amazonaws.com/id/...)."
  value       = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_security_group_id" {
  description = "The security group EKS makes for the cluster and puts on the managed nodes (and so their pods)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}
