// Command kit builds immutable, container-based Linux systems from
// declarative specs.
package main
