package schema

import "github.com/smartgate/smartgate/account"

// The attribute tables. Each call builds a fresh value, so callers may
// not change what another sees.

// str is a single-valued, readWrite, case-insensitive string returned by
// default; the builders below adjust it.
func str(name, desc string) Attribute {
	return Attribute{Name: name, Type: String, Description: desc, Mutability: ReadWrite, Returned: ByDefault, Uniqueness: None}
}

func filterable(a Attribute) Attribute { a.Filterable = true; return a }

func typed(a Attribute, t Type) Attribute { a.Type = t; return a }

func exact(a Attribute) Attribute { a.CaseExact = true; return a }

func multi(a Attribute) Attribute { a.MultiValued = true; return a }

func readOnly(a Attribute) Attribute { a.Mutability = ReadOnly; return a }

func complexOf(name, desc string, subs ...Attribute) Attribute {
	a := str(name, desc)
	a.Type = Complex
	a.SubAttributes = subs
	return a
}

func canonical(a Attribute, values ...string) Attribute { a.CanonicalValues = values; return a }

func ref(name, desc string, types ...string) Attribute {
	a := str(name, desc)
	a.Type = Reference
	a.CaseExact = true
	a.ReferenceTypes = types
	return a
}

func primary(desc string) Attribute {
	return typed(str("primary", desc), Boolean)
}

// common returns the attributes of every resource (RFC 7643 §3.1).
func common() []Attribute {
	id := filterable(exact(readOnly(str("id", "Unique identifier for the SCIM resource as defined by the Service Provider."))))
	id.Returned, id.Uniqueness = Always, Server
	meta := readOnly(complexOf("meta", "A complex attribute containing resource metadata.",
		exact(readOnly(str("resourceType", "The name of the resource type of the resource."))),
		filterable(readOnly(typed(str("created", "The DateTime that the resource was added to the service provider."), DateTime))),
		filterable(readOnly(typed(str("lastModified", "The most recent DateTime that the details of this resource were updated at the service provider."), DateTime))),
		readOnly(ref("location", "The URI of the resource being returned.", "uri")),
		exact(readOnly(str("version", "The version of the resource being returned."))),
	))
	return []Attribute{
		id,
		filterable(exact(str("externalId", "A String that is an identifier for the resource as defined by the provisioning client."))),
		meta,
	}
}

// User returns the User resource type: RFC 7643 §4.1 with the
// enterprise (§4.3) and smartgate extensions.
func User() *Resource {
	return &Resource{
		Name:        "User",
		Endpoint:    "/Users",
		Description: "User Account",
		Common:      common(),
		Core:        Schema{ID: UserURN, Name: "User", Description: "User Account", Attributes: userAttributes()},
		Extensions: []Schema{
			{ID: EnterpriseUserURN, Name: "EnterpriseUser", Description: "Enterprise User", Alias: "enterprise", Attributes: enterpriseAttributes()},
			{ID: SmartgateUserURN, Name: "SmartgateUser", Description: "smartgate rights of a User", Alias: "smartgate", Attributes: smartgateUserAttributes()},
		},
	}
}

func userAttributes() []Attribute {
	userName := filterable(str("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider."))
	userName.Required, userName.Uniqueness = true, Server
	password := str("password", "The User's cleartext password, used to set it; never returned.")
	password.Mutability, password.Returned = WriteOnly, Never
	groups := readOnly(multi(complexOf("groups", "A list of groups to which the user belongs, either through direct membership or through nested groups.",
		filterable(exact(readOnly(str("value", "The identifier of the User's group.")))),
		readOnly(ref("$ref", "The URI of the corresponding 'Group' resource to which the user belongs.", "Group")),
		readOnly(str("display", "A human-readable name, primarily used for display purposes.")),
		canonical(readOnly(str("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.")), "direct", "indirect"),
	)))
	return []Attribute{
		userName,
		complexOf("name", "The components of the user's real name.",
			filterable(str("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display.")),
			filterable(str("familyName", "The family name of the User.")),
			filterable(str("givenName", "The given name of the User.")),
			filterable(str("middleName", "The middle name(s) of the User.")),
			str("honorificPrefix", "The honorific prefix(es) of the User."),
			str("honorificSuffix", "The honorific suffix(es) of the User."),
		),
		filterable(str("displayName", "The name of the User, suitable for display to end-users.")),
		filterable(str("nickName", "The casual way to address the user in real life.")),
		filterable(ref("profileUrl", "A fully qualified URL pointing to a page representing the User's online profile.", "external")),
		filterable(str("title", "The user's title, such as \"Vice President\".")),
		filterable(str("userType", "Used to identify the relationship between the organization and the user.")),
		filterable(str("preferredLanguage", "Indicates the User's preferred written or spoken language.")),
		filterable(str("locale", "Used to indicate the User's default location for purposes of localizing items.")),
		filterable(str("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'.")),
		filterable(typed(str("active", "A Boolean value indicating the User's administrative status."), Boolean)),
		password,
		multi(complexOf("emails", "Email addresses for the user.",
			filterable(str("value", "Email addresses for the user.")),
			canonical(filterable(str("type", "A label indicating the attribute's function, e.g., 'work' or 'home'.")), "work", "home", "other"),
			filterable(primary("A Boolean value indicating the 'primary' or preferred attribute value for this attribute.")),
		)),
		multi(complexOf("phoneNumbers", "Phone numbers for the User.",
			filterable(str("value", "Phone number of the User.")),
			canonical(filterable(str("type", "A label indicating the attribute's function, e.g., 'work', 'home', 'mobile'.")), "work", "home", "mobile", "fax", "pager", "other"),
			primary("A Boolean value indicating the 'primary' or preferred attribute value for this attribute."),
		)),
		addresses(),
		groups,
	}
}

// addresses is the User's addresses attribute (RFC 7643 §4.1.2, §8.7.1;
// primary as §4.1.2 and §2.4 give every multi-valued attribute). It is
// kept but not filterable.
func addresses() Attribute {
	return multi(complexOf("addresses", "A physical mailing address for this User. Canonical type values of 'work', 'home', and 'other'.",
		str("formatted", "The full mailing address, formatted for display or use with a mailing label. This attribute MAY contain newlines."),
		str("streetAddress", "The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information. This attribute MAY contain newlines."),
		str("locality", "The city or locality component."),
		str("region", "The state or region component."),
		str("postalCode", "The zip code or postal code component."),
		str("country", "The country name component."),
		canonical(str("type", "A label indicating the attribute's function, e.g., 'work' or 'home'."), "work", "home", "other"),
		primary("A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred mailing address or the primary email address."),
	))
}

func enterpriseAttributes() []Attribute {
	return []Attribute{
		filterable(str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.")),
		filterable(str("costCenter", "Identifies the name of a cost center.")),
		filterable(str("organization", "Identifies the name of an organization.")),
		filterable(str("division", "Identifies the name of a division.")),
		filterable(str("department", "Identifies the name of a department.")),
		complexOf("manager", "The User's manager.",
			filterable(exact(str("value", "The id of the SCIM resource representing the User's manager."))),
			ref("$ref", "The URI of the SCIM resource representing the User's manager.", "User"),
			readOnly(str("displayName", "The displayName of the User's manager.")),
		),
	}
}

func smartgateUserAttributes() []Attribute {
	fhirUser := filterable(ref("fhirUser", "The FHIR resource the person is, such as \"Practitioner/123\" or \"Patient/abc\": the fhirUser claim of SMART App Launch.", "external"))
	return []Attribute{
		fhirUser,
		canonical(filterable(exact(multi(str("roles", "smartgate roles held directly (groups may add more).")))), account.Roles()...),
		identities(),
	}
}

// identities is the smartgate User's federated identities: the links of
// (issuer, subject) at a provider to the account (account.Link). Every
// part is readOnly (a link is made by logging in through the provider and
// removed on the users page), and none is filterable: a filter on them is
// 400 invalidFilter.
func identities() Attribute {
	return readOnly(multi(complexOf("identities", "The federated identities linked to the User: each an (issuer, subject) at a configured provider; read-only.",
		readOnly(exact(str("provider", "The id of the configured provider the identity was linked through."))),
		readOnly(exact(str("issuer", "The provider's issuer (the OpenID Connect iss, or the preset's fixed issuer)."))),
		readOnly(exact(str("subject", "The provider's stable identifier of the person (sub)."))),
		readOnly(str("email", "The e-mail address the provider gave when the identity was linked (never used to find the account).")),
		readOnly(typed(str("created", "When the identity was linked."), DateTime)),
		readOnly(typed(str("lastLogin", "The last log-in through the identity; absent before the first."), DateTime)),
	)))
}

// Group returns the Group resource type: RFC 7643 §4.2 with the
// smartgate Group extension.
func Group() *Resource {
	displayName := filterable(str("displayName", "A human-readable name for the Group."))
	displayName.Required, displayName.Uniqueness = true, Server
	members := multi(complexOf("members", "A list of members of the Group.",
		filterable(exact(immutable(str("value", "Identifier of the member of this Group.")))),
		immutable(ref("$ref", "The URI corresponding to a SCIM resource that is a member of this Group.", "User")),
		readOnly(str("display", "A human-readable name of the member.")),
		canonical(immutable(str("type", "A label indicating the type of resource, e.g., 'User' or 'Group'.")), "User", "Group"),
	))
	return &Resource{
		Name:        "Group",
		Endpoint:    "/Groups",
		Description: "Group",
		Common:      common(),
		Core:        Schema{ID: GroupURN, Name: "Group", Description: "Group", Attributes: []Attribute{displayName, members}},
		Extensions: []Schema{{
			ID: SmartgateGroupURN, Name: "SmartgateGroup", Description: "smartgate rights given by a Group", Alias: "smartgate",
			Attributes: []Attribute{
				canonical(filterable(exact(multi(str("roles", "smartgate roles given to every member.")))), account.Roles()...),
				exact(multi(str("ceiling", "SMART scopes (such as \"user/*.rs\") that bound the members' tokens; absent: no ceiling."))),
			},
		}},
	}
}

func immutable(a Attribute) Attribute { a.Mutability = Immutable; return a }
