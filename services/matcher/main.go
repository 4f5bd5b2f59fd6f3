// Command matcher runs contactsync's matcher stage as its own service. It scales
// out by running more replicas: they share the Kafka consumer group
// contactsync-matcher (give each a stable CONTACTSYNC_INSTANCE).
// It takes no arguments (--help prints its usage, --version its build);
// configuration is read from the environment: see `contactsync env`.
package main

import (
	"os"

	"github.com/contactsync/contactsync/pkg/app"
)

func main() {
	os.Exit(app.Main("matcher", app.StageMatcher))
}
