package smart_test

import (
	"encoding/json"
	"fmt"

	"github.com/smartgate/smartgate/authz/smart"
)

func ExampleParseScopes() {
	granted, invalid := smart.ParseScopes("launch/patient openid patient/Observation.rs?category=laboratory patient/Patient.read patient/Observation.sr")
	fmt.Println(granted)
	fmt.Println(invalid)
	// The FHIR layer asks which scopes allow searching Observations for the
	// patient in context, and applies the union of their queries.
	for _, s := range granted.Allows(smart.ContextPatient, "Observation", smart.Search) {
		fmt.Println(s.Params())
	}
	fmt.Println(granted.HasPatientScopes(), granted.Has(smart.KindOfflineAccess))
	// Output:
	// launch/patient openid patient/Observation.rs?category=laboratory patient/Patient.read
	// [patient/Observation.sr]
	// [{category laboratory}]
	// true false
}

func ExampleNarrow() {
	ceiling, _ := smart.ParseScopes("openid patient/Observation.rs patient/Condition.r")
	requested, _ := smart.ParseScope("patient/*.read")
	fmt.Println(smart.Narrow(requested, ceiling))
	// Output: patient/Observation.read patient/Condition.r
}

func ExampleScopeStrategy() {
	allowed := []string{"openid", "patient/*.read"}
	fmt.Println(smart.ScopeStrategy(allowed, "patient/Observation.rs"))
	fmt.Println(smart.ScopeStrategy(allowed, "patient/Observation.write"))
	fmt.Println(smart.ScopeStrategy(allowed, "user/Observation.rs"))
	// Output:
	// true
	// false
	// false
}

func ExampleDescribe() {
	s, _ := smart.ParseScope("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
	fmt.Println(smart.Describe(s))
	// Output: Read and search your Observation records (category: laboratory)
}

func ExampleScope_MarshalText() {
	ss, _ := smart.ParseScopes("openid patient/*.read")
	b, _ := json.Marshal(ss)
	fmt.Println(string(b))
	var back smart.Scopes
	_ = json.Unmarshal(b, &back)
	fmt.Println(back)
	// Output:
	// ["openid","patient/*.read"]
	// openid patient/*.read
}
