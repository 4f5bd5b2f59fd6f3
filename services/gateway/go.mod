module github.com/contactsync/contactsync/services/gateway

go 1.26.0

require github.com/contactsync/contactsync/pkg v0.0.0-00010101000000-000000000000

replace (
	github.com/contactsync/contactsync/pkg => ../../pkg
	github.com/contactsync/contactsync/schemas => ../../schemas
)
