// Package e2eboot holds kit's boot test: it builds the example packages and
// examples/redis-os.yml, boots RedisOS with `kit run qemu` and judges the
// serial console; and the check that the spec's package tags are current.
package e2eboot
