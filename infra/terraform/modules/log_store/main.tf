# DynamoDB for the lake's writers: Delta's S3DynamoDBLogStore (mutual exclusion of commits to
# one table from several clusters; storage.log_store: dynamodb) and the lakehouse's own
# writer lock (one writing command per lake). Both are made here, so the jobs' role needs no
# dynamodb:CreateTable: the code only creates a table it does not find.

# Delta's schema (io.delta.storage.S3DynamoDBLogStore): one item per commit file of a table,
# keyed by the table's path and the commit file's name; completed entries get an expireTime
# (epoch seconds) after which DynamoDB's TTL removes them.
resource "aws_dynamodb_table" "delta_log" {
  name                        = var.delta_log_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "tablePath"
  range_key                   = "fileName"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "tablePath"
    type = "S"
  }

  attribute {
    name = "fileName"
    type = "S"
  }

  ttl {
    attribute_name = "expireTime"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  # encrypted at rest with KMS (the AWS-managed aws/dynamodb key)
  server_side_encryption {
    enabled = true
  }
}

# The lake lock's schema (lakehouse/io/lake_lock.py): one item per lake, keyed by its URI;
# the lease's expiry is an attribute the code checks itself.
resource "aws_dynamodb_table" "lake_lock" {
  name                        = var.lock_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "lake"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "lake"
    type = "S"
  }

  server_side_encryption {
    enabled = true
  }
}
