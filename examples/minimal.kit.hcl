# The smallest useful kit system: a kernel, an init with runc, a DHCP client
# at boot and a console shell.
#
# Converted from minimal.yml by kit convert.

kernel {
  image   = "linuxkit/kernel:6.6.71"
  cmdline = "console=tty0 console=ttyS0"
}

init = ["linuxkit/init:v1.1.0", "linuxkit/runc:v1.1.0"]

onboot "dhcpcd" {
  image   = "linuxkit/dhcpcd:v1.1.0"
  command = ["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
}

service "getty" {
  image = "linuxkit/getty:v1.1.0"
  env   = ["INSECURE=true"]
}
