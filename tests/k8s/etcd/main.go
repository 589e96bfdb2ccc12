// Command etcd is upstream etcd's server, unchanged: the same main as
// go.etcd.io/etcd/server/v3's own main.go (which cannot be built with
// `go install pkg@version` because its go.mod has relative replace lines).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
