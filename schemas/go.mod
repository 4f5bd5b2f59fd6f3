module github.com/contactsync/contactsync/schemas

go 1.26.0
