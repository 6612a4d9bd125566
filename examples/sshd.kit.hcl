# A system you can log into over SSH. Put your public key in
# ~/.ssh/id_rsa.pub (or change the source below).
#
# Converted from sshd.yml by kit convert.

kernel {
  image   = "linuxkit/kernel:6.6.71"
  cmdline = "console=tty0 console=ttyS0"
}

init = [
  "linuxkit/init:v1.1.0",
  "linuxkit/runc:v1.1.0",
  "linuxkit/containerd:v1.1.0",
]

onboot "sysctl" {
  image = "linuxkit/sysctl:v1.1.0"
}

onboot "dhcpcd" {
  image   = "linuxkit/dhcpcd:v1.1.0"
  command = ["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
}

service "getty" {
  image = "linuxkit/getty:v1.1.0"
  env   = ["INSECURE=true"]
}

service "rngd" {
  image = "linuxkit/rngd:v1.1.0"
}

service "sshd" {
  image     = "linuxkit/sshd:v1.1.0"
  binds_add = ["/root/.ssh:/root/.ssh"]
}

file "root/.ssh/authorized_keys" {
  source   = "~/.ssh/id_rsa.pub"
  optional = true
  mode     = "0600"
}
