# Staging: the whole lakehouse at a small size. Names are the ones conf/staging/lakehouse.yml
# gives the code (tests/infra/test_terraform.py checks that they agree).

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "lakehouse"
      environment = local.env
      managed-by  = "opentofu"
    }
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  env  = "staging"
  name = "lakehouse-${local.env}"

  # conf/staging/lakehouse.yml: landing_root and lake_root (s3a://<bucket>/<prefix>)
  data_bucket    = "lakehouse-staging"
  landing_prefix = "landing"
  lake_prefix    = "lake"
  # storage.dynamodb_table (storage.log_store: dynamodb) and lock.table (conf/base)
  delta_log_table = "lakehouse_staging_delta_log"
  lock_table      = "lakehouse_locks"
  # secrets.hmac_key (the part before #hmac_key) and secrets.api_keys
  hmac_key_secret = "lakehouse/staging"
  api_keys_secret = "lakehouse/staging/api-keys"
  # made into Kubernetes Secrets by the External Secrets Operator (infra/k8s/overlays/staging)
  metrics_scraper_secret = "lakehouse/staging/metrics-scraper"
  mlflow_db_secret       = "lakehouse/staging/mlflow-db"
  # secrets.online_store_url (the part before #url): written by modules/online_store
  online_store_secret = "lakehouse/staging/online-store"
  # the images the overlays name (`images:`), one ECR repository each
  serving_image = "lakehouse-serving"
  jobs_image    = "lakehouse-jobs"
  mlflow_image  = "lakehouse-mlflow"
  # the GitHub environment .github/workflows/release.yml deploys staging in
  github_environment = "staging"
  # conf/base ml.maintain: min_retention_hours (168) + safety_margin_s (3600 s = 1 h)
  vacuum_retention_hours = 169
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cluster_name       = local.name
  cidr_block         = "10.40.0.0/16"
  availability_zones = slice(data.aws_availability_zones.available.names, 0, 2)
  single_nat_gateway = true
}

module "eks" {
  source = "../../modules/eks"

  cluster_name        = local.name
  kubernetes_version  = "1.36"
  subnet_ids          = module.network.private_subnet_ids
  public_access_cidrs = var.public_access_cidrs
  admin_role_arns     = var.admin_role_arns
  log_retention_days  = 30

  node_groups = {
    system = {
      instance_types = ["m6i.large"]
      capacity_type  = "ON_DEMAND"
      min_size       = 2
      desired_size   = 2
      max_size       = 3
      disk_size_gib  = 50
      labels         = { workload = "system" }
    }
    spark = {
      instance_types = ["m6i.2xlarge", "m6a.2xlarge", "m5.2xlarge"]
      capacity_type  = "SPOT"
      min_size       = 0
      desired_size   = 1
      max_size       = 6
      disk_size_gib  = 100
      labels         = { workload = "spark" }
    }
  }
}

module "storage" {
  source = "../../modules/storage"

  data_bucket             = local.data_bucket
  landing_prefix          = local.landing_prefix
  lake_prefix             = local.lake_prefix
  artifacts_bucket        = "${local.name}-mlflow-artifacts"
  vacuum_retention_hours  = local.vacuum_retention_hours
  noncurrent_version_days = 14
  landing_expiration_days = 14
  landing_noncurrent_days = 7
  erasure_deadline_days   = 30
  lake_tiering_days       = 30
}

module "log_store" {
  source = "../../modules/log_store"

  delta_log_table     = local.delta_log_table
  lock_table          = local.lock_table
  deletion_protection = false
}

module "secrets" {
  source = "../../modules/secrets"

  name                   = local.name
  hmac_key_secret        = local.hmac_key_secret
  api_keys_secret        = local.api_keys_secret
  metrics_scraper_secret = local.metrics_scraper_secret
  mlflow_db_secret       = local.mlflow_db_secret
  online_store_secret    = local.online_store_secret
  recovery_window_days   = 7
}

module "iam" {
  source = "../../modules/iam"

  name                       = local.name
  oidc_provider_arn          = module.eks.oidc_provider_arn
  oidc_issuer                = module.eks.oidc_issuer
  data_bucket_arn            = module.storage.data_bucket_arn
  landing_prefix             = local.landing_prefix
  lake_prefix                = local.lake_prefix
  data_kms_key_arn           = module.storage.data_kms_key_arn
  artifacts_bucket_arn       = module.storage.artifacts_bucket_arn
  artifacts_kms_key_arn      = module.storage.artifacts_kms_key_arn
  delta_log_table_arn        = module.log_store.delta_log_table_arn
  lock_table_arn             = module.log_store.lock_table_arn
  secrets_kms_key_arn        = module.secrets.kms_key_arn
  hmac_key_secret_arn        = module.secrets.hmac_key_secret_arn
  api_keys_secret_arn        = module.secrets.api_keys_secret_arn
  metrics_scraper_secret_arn = module.secrets.metrics_scraper_secret_arn
  mlflow_db_secret_arn       = module.secrets.mlflow_db_secret_arn
  online_store_secret_arn    = module.secrets.online_store_secret_arn
}

module "database" {
  source = "../../modules/database"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_id  = module.eks.cluster_security_group_id
  backend_store_secret_arn  = module.secrets.mlflow_db_secret_arn
  instance_class            = "db.t4g.medium"
  allocated_storage_gib     = 20
  max_allocated_storage_gib = 100
  multi_az                  = false
  backup_retention_days     = 7
  deletion_protection       = false
  final_snapshot            = false
}

module "online_store" {
  source = "../../modules/online_store"

  name                     = local.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.eks.cluster_security_group_id
  url_secret_arn           = module.secrets.online_store_secret_arn
  node_type                = "cache.t4g.small"
  replicas                 = 0
  snapshot_retention_days  = 0
}

module "registry" {
  source = "../../modules/registry"

  name         = local.name
  repositories = [local.serving_image, local.jobs_image, local.mlflow_image]
  keep_images  = 500
  # prod's ci-build role copies the digests tested here into prod's registry
  pull_principal_arns = var.image_copy_role_arns
}

module "ci" {
  source = "../../modules/ci"

  name                   = local.name
  github_repository      = var.github_repository
  github_environment     = local.github_environment
  serving_repository_arn = module.registry.repository_arns[local.serving_image]
  jobs_repository_arn    = module.registry.repository_arns[local.jobs_image]
  mlflow_repository_arn  = module.registry.repository_arns[local.mlflow_image]
  cluster_name           = module.eks.cluster_name
  cluster_arn            = module.eks.cluster_arn
}
