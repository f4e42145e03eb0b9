"""Identity and access: credentials, principals, scopes."""
