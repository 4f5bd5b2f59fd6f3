package baseline

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"
)

// writeHTML writes index.html: the counts on top, a chart of the
// differences per field as inline SVG, and the CSV files it summarises.
// No external assets: it opens from a laptop's disk.
func writeHTML(dir Dir, s Summary, cfg Config) error {
	type bar struct {
		Field        string
		Count        int
		Y, Width, TY int
	}
	var bars []bar
	most := 0
	for _, f := range byCount(s.Differences) {
		most = max(most, s.Differences[f])
	}
	for i, f := range byCount(s.Differences) {
		w := 0
		if most > 0 {
			w = s.Differences[f] * 560 / most
		}
		bars = append(bars, bar{Field: f, Count: s.Differences[f], Y: i * 24, Width: max(w, 1), TY: i*24 + 15})
	}
	systems := cfg.Rules.Systems()
	var creates []string
	for _, sys := range systems {
		creates = append(creates, FileCreates(sys))
	}
	data := map[string]any{
		"S": s, "Bars": bars, "Height": len(bars)*24 + 4, "Systems": systems, "Creates": creates,
		"Files": slices.Concat([]string{FileLinks, FileAmbiguous, FileDifferences}, creates, []string{FileRejected}),
		"Now":   cfg.Now.UTC().Format("2006-01-02 15:04:05 UTC"),
	}
	var b bytes.Buffer
	if err := page.Execute(&b, data); err != nil {
		return fmt.Errorf("baseline: index.html: %w", err)
	}
	if err := dir.WriteFile(FileIndex, b.Bytes()); err != nil {
		return fmt.Errorf("baseline: index.html: %w", err)
	}
	return nil
}

var page = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>contactsync baseline: {{.S.Offline}} and {{.S.Online}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:60rem}
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.note{color:#666;font-size:.9rem}
</style></head><body>
<h1>Point zero: {{.S.Offline}} and {{.S.Online}}</h1>
<p class="note">Dry run of {{.Now}}: what switching the sync on would do, decided by the stream's own matching and field rules. Nothing was written to any system.</p>
<table>
<tr><th>records read</th>{{range .Systems}}<th>{{.}}</th>{{end}}</tr>
<tr><td>read</td>{{range .Systems}}<td class="n">{{index $.S.Read .}}</td>{{end}}</tr>
<tr><td>rejected (see rejected.csv)</td>{{range .Systems}}<td class="n">{{index $.S.Rejected .}}</td>{{end}}</tr>
<tr><td>linked to a record of the same system (duplicates)</td>{{range .Systems}}<td class="n">{{index $.S.Duplicates .}}</td>{{end}}</tr>
<tr><td>ambiguous: a person decides (ambiguous.csv)</td>{{range .Systems}}<td class="n">{{index $.S.Ambiguous .}}</td>{{end}}</tr>
<tr><td>would be created there</td>{{range .Systems}}<td class="n">{{index $.S.Creates .}}</td>{{end}}</tr>
<tr><td>would be updated there</td>{{range .Systems}}<td class="n">{{index $.S.Updates .}}</td>{{end}}</tr>
<tr><td>of which stamped with the other system's record id</td>{{range .Systems}}<td class="n">{{index $.S.Stamps .}}</td>{{end}}</tr>
</table>
<table>
<tr><td>persons</td><td class="n">{{.S.Persons}}</td></tr>
<tr><td>{{.S.Online}} records linked to a {{.S.Offline}} record (links.csv)</td><td class="n">{{.S.Links}}</td></tr>
<tr><td>linked pairs with differences (differences.csv)</td><td class="n">{{.S.PairsDiffering}}</td></tr>
</table>
<h2>Differences per field</h2>
{{if .Bars}}<svg xmlns="http://www.w3.org/2000/svg" width="820" height="{{.Height}}" role="img" aria-label="differences per field">
{{range .Bars}}<text x="150" y="{{.TY}}" text-anchor="end" font-size="13">{{.Field}}</text><rect x="160" y="{{.Y}}" width="{{.Width}}" height="20" fill="#4a78b5"/><text x="{{.Width}}" dx="166" y="{{.TY}}" font-size="13">{{.Count}}</text>
{{end}}</svg>{{else}}<p>No linked pair differs.</p>{{end}}
<h2>Files</h2>
<ul>{{range .Files}}<li><a href="{{.}}">{{.}}</a></li>{{end}}</ul>
</body></html>
`))
