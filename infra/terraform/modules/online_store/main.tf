# The prediction service's shared online store: the fraud velocity state every replica reads
# and updates (lakehouse/features/velocity_store.py, serve.online_store). Redis on ElastiCache
# in the private subnets, reached only from the cluster's security group on 6379, TLS in
# transit (rediss://), encrypted at rest with its own KMS key, an AUTH token, and (prod) a
# replica in a second zone that takes over by itself.
#
# The state must never be evicted to make room: a velocity window that silently lost entries
# would score on wrong counts. maxmemory-policy noeviction makes a full server refuse writes
# instead, so requests fail with 503 and the memory alarm shows (size node_type for the
# windows' transactions: about 200 bytes each).
#
# The token is generated here and written, inside the store's URL, into the secret the service
# reads at start (lakehouse/<env>/online-store, field url; conf secrets.online_store_url), as
# modules/database does for MLflow's backend store: its host only Terraform knows. The price:
# the token is in the Terraform state, in the encrypted, private state bucket. Rotate it with
# `tofu apply -replace=module.online_store.random_password.auth`, then restart the service.

locals {
  port = 6379
}

resource "aws_kms_key" "online_store" {
  description             = "${var.name}: the online store (data at rest, snapshots)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "online_store" {
  name          = "alias/${var.name}-online-store"
  target_key_id = aws_kms_key.online_store.key_id
}

resource "aws_elasticache_subnet_group" "this" {
  name        = "${var.name}-online-store"
  description = "The online store: the private subnets"
  subnet_ids  = var.subnet_ids
}

# No egress rule (the server calls nothing) and one ingress rule: Redis from the cluster's
# security group, which EKS puts on the managed nodes and so on the serving pods.
resource "aws_security_group" "online_store" {
  name        = "${var.name}-online-store"
  description = "The online store: Redis from the EKS cluster only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-online-store" }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_cluster" {
  security_group_id            = aws_security_group.online_store.id
  description                  = "Redis from the EKS cluster security group"
  referenced_security_group_id = var.client_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
}

resource "aws_elasticache_parameter_group" "this" {
  name        = "${var.name}-online-store-redis7"
  family      = "redis7"
  description = "The online store: never evict the velocity state"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Letters and digits only: the token goes into a URL (urlencode() below keeps it safe anyway),
# and ElastiCache refuses some punctuation in AUTH tokens
resource "random_password" "auth" {
  length  = 64
  special = false
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = "${var.name}-online-store"
  description          = "The prediction service's fraud velocity state, shared by its replicas"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = local.port
  parameter_group_name = aws_elasticache_parameter_group.this.name

  num_cache_clusters         = var.replicas + 1
  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.replicas > 0

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.online_store.id]

  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = random_password.auth.result
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.online_store.arn

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "02:00-03:00"
  maintenance_window         = "sun:03:30-sun:04:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false
}

# The URL `lakehouse serve` connects with (secrets.online_store_url): TLS, the default user with
# the AUTH token, database 0, the primary endpoint (which follows a failover)
resource "aws_secretsmanager_secret_version" "url" {
  secret_id = var.url_secret_arn
  secret_string = jsonencode({
    url = "rediss://:${urlencode(random_password.auth.result)}@${aws_elasticache_replication_group.this.primary_endpoint_address}:${local.port}/0"
  })
}
