// Package micro holds Go micro-benchmarks of the per-request costs that
// bound smartgate's throughput: ES256 signing and verification of access
// tokens, the SHA-256 client-secret check, and the argon2id password verify
// behind the OWin grant (whose time gives the OWin ceiling, cores / verify).
//
//	go test -run '^$' -bench . -benchtime 1s -count 3 ./bench/micro
package micro
