variable "registry" {
  type    = string
  default = "linuxkit"
}

locals {
  kernel = "${var.registry}/kernel:6.6.71"
}

package "redis" {
  dir      = "../packages/redis"
  registry = "127.0.0.1:5000"
}

package "unused" {
  dir = "../packages/unused"
}

system "web" {
  kernel {
    image   = local.kernel
    cmdline = "console=ttyS0"
  }
  init = ["${var.registry}/init:v1.1.0"]

  service "redis" {
    image = package.redis.image
  }

  output "iso-efi" {
    diskSize = 1024 * 1024 * 64
    images   = { grub = "example.com/grub:2" }
  }

  output "tar" {}

  upload "aws" {
    bucket = "kit-images"
    region = "eu-west-1"
    tags   = { system = "web" }
  }
}

system "db" {
  kernel {
    image = local.kernel
  }
  init = ["${var.registry}/init:v1.1.0"]
}
