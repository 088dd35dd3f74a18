# TFLint (infra/tools/go-tools.txt): every rule of its bundled Terraform ruleset, which needs
# no plugin download. Run from infra/terraform: `tflint --recursive --config=$PWD/.tflint.hcl`.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
