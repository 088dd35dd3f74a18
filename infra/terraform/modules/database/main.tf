# The MLflow tracking server's backend store: PostgreSQL on RDS in the private subnets, reached
# only from the cluster's security group on 5432, encrypted with its own KMS key, TLS required,
# daily backups, and (prod) deletion protection and a final snapshot.
#
# The password is generated here and written, inside the backend store's URL, into the secret
# infra/k8s reads (lakehouse/<env>/mlflow-db, field uri) -- not left to RDS's managed secret
# (manage_master_user_password): that secret gets a generated name the overlays cannot know
# ahead, holds no host or database, and RDS rotates it on a schedule, while the tracking server
# reads its URL once, at start (an environment variable), so a rotation would cut the running
# server off its database. The price: the password is in the Terraform state, which lives in
# the encrypted, private state bucket (../../README.md). Rotate it with
# `tofu apply -replace=module.database.random_password.master`, then restart MLflow.

locals {
  port = 5432
}

resource "aws_kms_key" "database" {
  description             = "${var.name}: the MLflow backend store (storage, snapshots, logs)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "database" {
  name          = "alias/${var.name}-mlflow-db"
  target_key_id = aws_kms_key.database.key_id
}

resource "aws_db_subnet_group" "this" {
  name        = "${var.name}-mlflow"
  description = "MLflow backend store: the private subnets"
  subnet_ids  = var.subnet_ids
}

# No egress rule (the database calls nothing) and one ingress rule: PostgreSQL from the
# cluster's security group, which EKS puts on the managed nodes and so on the MLflow pods.
resource "aws_security_group" "database" {
  name        = "${var.name}-mlflow-db"
  description = "MLflow backend store: PostgreSQL from the EKS cluster only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-mlflow-db" }
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_cluster" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the EKS cluster security group"
  referenced_security_group_id = var.client_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-mlflow-postgres${var.engine_version}"
  family      = "postgres${var.engine_version}"
  description = "MLflow backend store: TLS required"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Letters and digits only: the password goes into a URL (urlencode() below keeps it safe anyway)
resource "random_password" "master" {
  length  = 40
  special = false
}

resource "aws_db_instance" "this" {
  identifier     = "${var.name}-mlflow"
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  port           = local.port
  db_name        = var.database_name
  username       = var.username
  password       = random_password.master.result

  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.database.arn

  db_subnet_group_name                = aws_db_subnet_group.this.name
  vpc_security_group_ids              = [aws_security_group.database.id]
  publicly_accessible                 = false
  parameter_group_name                = aws_db_parameter_group.this.name
  multi_az                            = var.multi_az
  iam_database_authentication_enabled = var.iam_authentication

  backup_retention_period    = var.backup_retention_days
  backup_window              = "02:00-03:00"
  maintenance_window         = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot      = true
  delete_automated_backups   = false
  auto_minor_version_upgrade = true
  deletion_protection        = var.deletion_protection
  skip_final_snapshot        = !var.final_snapshot
  final_snapshot_identifier  = var.final_snapshot ? "${var.name}-mlflow-final" : null

  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
}

# The URL infra/k8s/base/mlflow hands to `mlflow server --backend-store-uri`. The driver is
# named: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, the MLflow image carries
# psycopg2. sslmode=require matches rds.force_ssl.
resource "aws_secretsmanager_secret_version" "backend_store" {
  secret_id = var.backend_store_secret_arn
  secret_string = jsonencode({
    uri = "postgresql+psycopg2://${aws_db_instance.this.username}:${urlencode(random_password.master.result)}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${aws_db_instance.this.db_name}?sslmode=require"
  })
}
