package bench

import (
	"fmt"
	"html"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"
)

const mib = 1 << 20

// Table is the run's figures as a plain-text table, each rate with its
// ratio to the copier at its best poll size.
func (r Result) Table() string {
	best := r.BestCopier().PerSecond()
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %10s %10s %12s %9s\n", "measure", "records", "seconds", "records/s", "vs copier")
	row := func(x Rate) {
		fmt.Fprintf(&b, "%-28s %10d %10.2f %12.0f %8.1f%%\n", x.Name, x.Records, x.Elapsed.Seconds(), x.PerSecond(), 100*x.PerSecond()/best)
	}
	for _, c := range r.Copier {
		row(c)
	}
	for _, s := range r.Stages {
		row(Rate{Name: s.Name + " alone", Records: s.Records, Elapsed: s.Elapsed})
	}
	row(r.Pipeline)
	row(Rate{Name: "NCOA burst", Records: r.NCOA.Records, Elapsed: r.NCOA.Elapsed})
	fmt.Fprintf(&b, "latency at %d/s offered: p50 %s, p90 %s, p99 %s, max %s (%d gifts)\n", r.Offered,
		ms(r.Percentile(0.5)), ms(r.Percentile(0.9)), ms(r.Percentile(0.99)), ms(r.Percentile(1)), len(r.Latency))
	names := make([]string, 0, len(r.RSS))
	for n := range r.RSS {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "peak RSS %-10s %6.1f MiB\n", n, float64(r.RSS[n])/mib)
	}
	rf := r.Redis
	fmt.Fprintf(&b, "redis: %d persons, %d keys (%.1f per person), %.1f MiB (%.0f bytes per person) of which memos %d keys %.1f MiB; instance used_memory %.1f MiB, dbsize %d\n",
		rf.Persons, rf.Keys, per(rf.Keys, rf.Persons), float64(rf.Bytes)/mib, per(rf.Bytes-rf.MemoBytes, rf.Persons),
		rf.MemoKeys, float64(rf.MemoBytes)/mib, float64(rf.UsedMemory)/mib, rf.DBSize)
	return b.String()
}

func per(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// Markdown is BENCHMARKS.md.
func (r Result) Markdown(command, machine, svgName string, o Options) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\nWritten by `make bench` (pkg/bench). The figures are from one run; the machines are noisy, so\n" +
		"compare the ratios to the copier, which ran in the same run on the same broker.\n\n")
	fmt.Fprintf(&b, "- command: `%s`\n- machine: %s\n- date: %s\n", command, machine, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- backlog: %d offline snapshot rows and %d online events (faults.Generate, seed 7); NCOA burst %d address changes; latency run %d gifts/s for %s\n\n",
		o.Offline, o.Events, o.NCOA, o.Rate, o.RateFor)
	fmt.Fprintf(&b, "![throughput and latency](%s)\n\n```\n%s```\n", svgName, r.Table())
	b.WriteString(r.targets())
	keys := make([]string, 0, len(r.Redis.KeysByKind))
	for k := range r.Redis.KeysByKind {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return r.Redis.BytesByKind[keys[i]] > r.Redis.BytesByKind[keys[j]] })
	b.WriteString("\nRedis keys of the pipeline run by layout (redisstore/keys.go):\n\n| layout | keys | per person | MiB |\n|---|---:|---:|---:|\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| `%s` | %d | %.2f | %.2f |\n", k, r.Redis.KeysByKind[k], per(r.Redis.KeysByKind[k], r.Redis.Persons), float64(r.Redis.BytesByKind[k])/mib)
	}
	return b.String()
}

// Machine describes where the run was.
func Machine(cpuModel string) string {
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s/%s, %s", cpuModel, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// SVG plots throughput per measure (bars, with the best copier as the
// reference line) and the latency distribution (cumulative).
func (r Result) SVG() string {
	const w, h, pad = 900, 380, 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	// Left: throughput bars.
	rates := append(append([]Rate{}, r.Copier...), r.Stages...)
	rates = append(rates, r.Pipeline, r.NCOA)
	maxRate := 1.0
	for _, x := range rates {
		maxRate = max(maxRate, x.PerSecond())
	}
	pw, ph := 420.0, float64(h-2*pad-40)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="13">records/s (log scale)</text>`+"\n", pad)
	logMax := log10(maxRate * 1.2)
	y := func(v float64) float64 { return float64(pad) + ph - ph*max(0, log10(max(v, 1)))/logMax }
	for _, tick := range []float64{10, 100, 1000, 10000, 100000, 1000000} {
		if tick > maxRate*1.2 {
			break
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", pad, float64(pad)+pw, y(tick), y(tick), pad-4, y(tick)+4, tick)
	}
	bw := pw / float64(len(rates))
	for i, x := range rates {
		x0 := float64(pad) + float64(i)*bw + 4
		color := "#4c78a8"
		if strings.HasPrefix(x.Name, "copier") {
			color = "#aaa"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x0, y(x.PerSecond()), bw-8, float64(pad)+ph-y(x.PerSecond()), color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", x0+(bw-8)/2, y(x.PerSecond())-3, x.PerSecond())
		fmt.Fprintf(&b, `<text transform="translate(%.1f,%.1f) rotate(30)">%s</text>`+"\n", x0+2, float64(pad)+ph+12, html.EscapeString(x.Name))
	}
	// Right: latency CDF.
	lx := float64(pad) + pw + 70
	lw := float64(w) - lx - 20
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="13">end-to-end latency at %d/s offered (cumulative share of gifts)</text>`+"\n", lx, r.Offered)
	if n := len(r.Latency); n > 0 {
		maxL := float64(r.Latency[n-1]) / float64(time.Millisecond)
		xl := func(v float64) float64 { return lx + lw*v/maxL }
		var pts strings.Builder
		for i := 0; i < n; i += max(1, n/400) {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xl(float64(r.Latency[i])/float64(time.Millisecond)), float64(pad)+ph-ph*float64(i+1)/float64(n))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#e45756" stroke-width="2" points="%s"/>`+"\n", pts.String())
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="#333"/>`+"\n", lx, lx+lw, float64(pad)+ph, float64(pad)+ph)
		for i := 0; i <= 4; i++ {
			v := maxL * float64(i) / 4
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f ms</text>`+"\n", xl(v), float64(pad)+ph+14, v)
		}
		for _, q := range []float64{0.5, 0.99} {
			v := float64(r.Percentile(q)) / float64(time.Millisecond)
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#999" stroke-dasharray="3,3"/><text x="%.1f" y="%.1f">p%g %.0f ms</text>`+"\n",
				xl(v), xl(v), pad, float64(pad)+ph, xl(v)+3, float64(pad)+ph*(1-q)+12, q*100, v)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func log10(v float64) float64 { return math.Log10(v) }

// targets is the table of issue 15's targets against this run's figures.
func (r Result) targets() string {
	var b strings.Builder
	best := r.BestCopier().PerSecond()
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	var matcher Rate
	for _, s := range r.Stages {
		if s.Name == "matcher" {
			matcher = s
		}
	}
	maxRSS := int64(0)
	for _, v := range r.RSS {
		maxRSS = max(maxRSS, v)
	}
	perPerson := per(r.Redis.Bytes-r.Redis.MemoBytes, r.Redis.Persons)
	ncoa1M := time.Duration(float64(time.Second) * 1e6 / max(r.NCOA.PerSecond(), 1e-9))
	b.WriteString("\nTargets of issue 15 (this run):\n\n| target | this run | |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| pipeline >= 25,000/s and >= 25 %% of the best copier | %.0f/s, %.1f %% | %s |\n", r.Pipeline.PerSecond(), 100*r.Pipeline.PerSecond()/best,
		yes(r.Pipeline.PerSecond() >= 25000 && r.Pipeline.PerSecond() >= best/4))
	fmt.Fprintf(&b, "| matcher alone >= 30,000/s | %.0f/s | %s |\n", matcher.PerSecond(), yes(matcher.PerSecond() >= 30000))
	fmt.Fprintf(&b, "| 1M-record NCOA burst < 60 s | %s at this run's %.0f/s (%d records measured) | %s |\n", ncoa1M.Round(time.Second), r.NCOA.PerSecond(), r.NCOA.Records, yes(ncoa1M < time.Minute))
	fmt.Fprintf(&b, "| p99 < 100 ms at 2,000/s offered | %s at %d/s | %s |\n", ms(r.Percentile(0.99)), r.Offered, yes(r.Offered >= 2000 && r.Percentile(0.99) < 100*time.Millisecond))
	fmt.Fprintf(&b, "| < 200 MiB peak RSS per stage | %.0f MiB at most | %s |\n", float64(maxRSS)/mib, yes(maxRSS < 200*mib))
	fmt.Fprintf(&b, "| <= 2 KiB Redis per person, memos aside | %.0f bytes at %d persons | %s |\n", perPerson, r.Redis.Persons, yes(perPerson <= 2048))
	return b.String()
}
