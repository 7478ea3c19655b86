# One large file, for interrupted-upload tests.
variable "big" {}

task "file" "big" {
  path   = "/opt/big.bin"
  source = var.big
  mode   = "0644"
}
