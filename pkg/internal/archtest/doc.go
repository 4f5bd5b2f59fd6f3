// Package archtest checks the import rules of docs/ARCHITECTURE.md: pure
// packages do no I/O and import no adapter; stages import no adapter.
package archtest
