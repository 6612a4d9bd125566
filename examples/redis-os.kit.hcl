# RedisOS: the classic demo of this field. A kernel, an init (kit-init and
# busybox) with runc, a DHCP client at boot, a console and a Redis server.
#
# The images are the repository's own packages (examples/packages/*), built
# with `kit pkg build --registry 127.0.0.1:5000 examples/packages/*` and
# named by their content tags (`kit pkg show-tag`); a test fails when a tag
# here is stale: refresh them with
#   go test ./testing/e2e-boot -run TestExampleTags -update
# testing/demo.sh builds, pushes and boots all of it. To use public images
# instead, see "RedisOS from public images" in docs/packages.md.
#
# Converted from redis-os.yml by kit convert.

kernel {
  image   = "127.0.0.1:5000/kit/kernel:42c0516a2a4b01f4c2d2"
  cmdline = "console=ttyS0 kit.modules=virtio_pci,virtio_net,e1000,virtio_rng"
}

init = [
  "127.0.0.1:5000/kit/init:aa62c4afc14b96e18293",
  "127.0.0.1:5000/kit/runc:d50d326ae8e60212afcb",
]

onboot "dhcpcd" {
  image = "127.0.0.1:5000/kit/dhcpcd:46854ee383cd8fe3e736"
}

service "getty" {
  image = "127.0.0.1:5000/kit/getty:2fcb2709f2454656cee0"
  env   = ["INSECURE=true"]
}

service "redis" {
  image = "127.0.0.1:5000/kit/redis:9e3c32e09a50fb43c9cb"
  capabilities = [
    "CAP_NET_BIND_SERVICE",
    "CAP_CHOWN",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_DAC_OVERRIDE",
  ]
  net = "host"
}
