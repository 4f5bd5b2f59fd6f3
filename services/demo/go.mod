module github.com/contactsync/contactsync/services/demo

go 1.26.0

require (
	github.com/contactsync/contactsync/pkg v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.49.0
)

replace (
	github.com/contactsync/contactsync/pkg => ../../pkg
	github.com/contactsync/contactsync/schemas => ../../schemas
)
