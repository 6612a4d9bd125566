// Command kit-init is the PID 1 of kit systems: installed as /init in the
// init image, it moves the initramfs root to a tmpfs, mounts the early file
// systems, runs the onboot containers, starts the services and, on
// poweroff or reboot, runs the onshutdown containers. Run as another
// process, `kit-init poweroff|reboot|halt` asks PID 1 to end the system.
// The logic lives in package core/initsys.
package main
