package smart_test

import (
	"testing"

	"github.com/smartgate/smartgate/authz/smart"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		scope, want string
	}{
		{"patient/Observation.rs?category=" + labCat, "Read and search your Observation records (category: laboratory)"},
		{"patient/Observation.read", "Read and search your Observation records"},
		{"patient/Observation.r", "Read your Observation records"},
		{"patient/Condition.s", "Search your Condition records"},
		{"patient/*.rs", "See all your health records"},
		{"patient/*.*", "Create, read, update, delete and search all your health records"},
		{"patient/MedicationRequest.cu", "Create and update your MedicationRequest records"},
		{"user/*.rs", "See all data you are allowed to see about any patient"},
		{"user/*.read", "See all data you are allowed to see about any patient"},
		{"user/*.cruds", "Create, read, update, delete and search all records you are allowed to access, about any patient"},
		{"user/Appointment.write", "Create, update and delete Appointment records you are allowed to access, about any patient"},
		{"system/*.read", "Read and search all records on the server, with no user signed in"},
		{"system/Patient.s", "Search all Patient records on the server, with no user signed in"},
		{"patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern,http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item&clinical-status=active",
			"Read and search your Condition records (category: health-concern or problem-list-item; clinical-status: active)"},
		{"patient/Observation.rs?code=http%3A%2F%2Floinc.org%7C", "Read and search your Observation records (code: http://loinc.org)"},
		{"launch", "Know the context you launch the app from in your health record system, such as the current patient and encounter"},
		{"launch/patient", "Know which patient's record is selected when the app starts"},
		{"launch/encounter", "Know which encounter (visit or stay) is selected when the app starts"},
		{"openid", "Confirm who you are when you sign in to the app"},
		{"fhirUser", "Know which record represents you (your own patient, practitioner or related-person record)"},
		{"profile", "See your basic profile: your name and a link to the record that represents you"},
		{"offline_access", "Keep access after you close the app, until you revoke it"},
		{"online_access", "Keep access while you stay signed in, until you sign out"},
		{"email", "See your email address"},
		{"scim", "Manage the people and groups who may sign in (SCIM), with your administrator's rights"},
		{"__dark.mode", "Use the additional permission \u201c__dark.mode\u201d"},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			if got := smart.Describe(mustParse(t, tc.scope)); got != tc.want {
				t.Errorf("Describe = %q\nwant       %q", got, tc.want)
			}
		})
	}
}

// TestDescribeScope: a scope string reads as Describe of its parse; what
// does not parse is shown unchanged.
func TestDescribeScope(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"offline_access", "Keep access after you close the app, until you revoke it"},
		{"patient/Observation.r", "Read your Observation records"},
		{"patient/Observation.xyz", "patient/Observation.xyz"},
		{"", ""},
	} {
		if got := smart.DescribeScope(tc.in); got != tc.want {
			t.Errorf("DescribeScope(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
