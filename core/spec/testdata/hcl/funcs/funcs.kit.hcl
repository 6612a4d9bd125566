# Functions that read files do so relative to this file's directory.
locals {
  motd  = file("files/motd.txt")
  hosts = ["a", "b"]
}

init = ["linuxkit/init:v1.1.0"]

file "etc/motd" {
  contents = local.motd
}

file "etc/motd.sha256" {
  contents = "${sha256(local.motd)}  /etc/motd\n"
}

file "etc/app.conf" {
  contents = templatefile("files/app.conf.tftpl", { name = "kit", hosts = local.hosts })
  mode     = "0644"
}

file "etc/app.yaml" {
  contents = yamlencode({ name = upper("kit"), hosts = concat(local.hosts, ["c"]), port = 80 })
}

file "etc/app.json" {
  contents = jsonencode(merge({ a = 1 }, { b = lookup({ x = "y" }, "x", "z") }))
}

file "etc/misc" {
  contents = join(",", [
    format("%03d", 7),
    lower("ABC"),
    tostring(length(local.hosts)),
    tostring(length("four")),
    base64encode("hi"),
    basename("a/b/c.txt"),
    tostring(fileexists("files/motd.txt")),
    tostring(fileexists("files/none")),
    try(file("files/none"), "fallback"),
    trimspace("  x  "),
    replace("a-b", "-", "_"),
    join("+", split(":", "p:q")),
  ])
}
