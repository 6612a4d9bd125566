// Command kit-plugin-hello is an example third-party kit plugin: it serves
// one output format, "hello", which writes a text file listing the entries
// of the system's root filesystem. It depends on kit's SDK alone.
package main
