terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # State in S3, locked in DynamoDB. Partial configuration: the values (bucket, key, region,
  # dynamodb_table, encrypt) come from `tofu init -backend-config=backend.hcl`, see
  # backend.hcl.example and ../../README.md.
  backend "s3" {}
}
