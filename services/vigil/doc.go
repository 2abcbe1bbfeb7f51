// Package vigil is the command line: `vigil up` runs the whole stack in one
// process on embedded defaults, and every service also runs alone (`vigil
// shipper`, `vigil processor`, `vigil archiver`, `vigil pager`, `vigil
// broker`). `vigil migrate` applies the ClickHouse schema, `vigil config`
// validates or prints configuration, and `vigil silence` adds, lists and
// expires silences.
package vigil
