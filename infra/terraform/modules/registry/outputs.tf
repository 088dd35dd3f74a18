output "repository_urls" {
  description = "Repository name -> its URL (<account>.dkr.ecr.<region>.amazonaws.com/<name>), the overlays' image newName."
  value       = { for name, repository in aws_ecr_repository.this : name => repository.repository_url }
}

output "repository_arns" {
  description = "Repository name -> its ARN."
  value       = { for name, repository in aws_ecr_repository.this : name => repository.arn }
}
