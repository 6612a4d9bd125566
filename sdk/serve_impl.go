package sdk

func serve(p Plugin) {}
