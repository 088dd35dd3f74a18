variable "name" {
  description = "Prefix of every resource's Name tag, e.g. lakehouse-staging."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range; split into one private /19 and one public /24 per zone."
  type        = string
}

variable "availability_zones" {
  description = "Zones to spread the subnets over (EKS needs at least two)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 8
    error_message = "EKS needs subnets in at least two availability zones (at most eight here)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, one zone's outage cuts egress) instead of one per zone."
  type        = bool
}

variable "cluster_name" {
  description = "The EKS cluster that will use the subnets (tagged so its load balancers find them)."
  type        = string
}
