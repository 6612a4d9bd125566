package cache

// SetBootID makes Open see boot as the running boot's ID, and machine as
// the machine's, until restore is called.
func SetBootID(machine, boot string) (restore func()) {
	oldBoot, oldMachine := bootID, machineID
	bootID = func() string { return boot }
	machineID = func() string { return machine }
	return func() { bootID, machineID = oldBoot, oldMachine }
}
