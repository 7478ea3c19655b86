// Command skiff is the push deployer's CLI; see `skiff --help`.
package main

import (
	"os"

	"github.com/skiffdeploy/skiff/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
