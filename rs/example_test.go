package rs_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/smartgate/smartgate/rs"
)

// A service whose tokens come from a SMART authorization server: every
// request needs a token for this service's URL, and /labs one that grants
// read and search of the patient's laboratory Observations (SMART 1's
// patient/Observation.read grants it too).
func Example() {
	v, err := rs.NewJWKS(rs.JWKSOptions{
		Issuer:   "https://smartgate.example.org",
		Audience: "https://labs.example.org/api",
	})
	if err != nil {
		log.Fatal(err)
	}
	protect := rs.Middleware(v, rs.Options{Realm: "labs"})
	labs := rs.RequireScope("patient/Observation.rs", rs.Options{Realm: "labs"})
	mux := http.NewServeMux()
	mux.Handle("GET /labs", protect(labs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := rs.FromContext(r.Context())
		fmt.Fprintf(w, "lab results of %s for %s\n", c.Patient, c.ClientID)
	}))))
	// A real service would now serve mux over TLS, for example
	// http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", mux).
	fmt.Println("routes ready")
	// Output: routes ready
}
