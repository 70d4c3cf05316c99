// Package micro holds Go micro-benchmarks of the per-request costs that
// bound smartgate's throughput: ES256 signing and verification of access
// tokens, the SHA-256 client-secret check, and the argon2id password verify
// behind the OWin grant (whose time gives the OWin ceiling, cores / verify).
// It also holds the SQLite floors of the federated log-in benchmarks beside
// the code (sqlite_floor_test.go).
//
//	go test -run '^$' -bench . -benchtime 1s -count 3 ./bench/micro
package micro
