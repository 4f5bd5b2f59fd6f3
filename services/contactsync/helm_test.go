package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/contactsync/contactsync/pkg/app"
)

// helmBinary finds helm: $HELM, then $PATH, then where `go install` puts it
// (`make deploy-check` installs it there).
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		h := filepath.Join(strings.TrimSpace(string(out)), "bin", "helm")
		if _, err := os.Stat(h); err == nil {
			return h
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm not found: `make deploy-check` installs it")
	}
	t.Skip("helm not found (run `make deploy-check`, which installs it)")
	return ""
}

// rendered is the chart rendered by helm template, decoded into the
// Kubernetes API types.
type rendered struct {
	configMaps      map[string]corev1.ConfigMap
	services        []corev1.Service
	statefulSets    []appsv1.StatefulSet
	deployments     []appsv1.Deployment
	jobs            []batchv1.Job
	cronJobs        []batchv1.CronJob
	serviceMonitors []monitoringv1.ServiceMonitor
}

// helmTemplate runs helm template on the chart with args; the error
// carries helm's message.
func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), append([]string{"template", "cs", filepath.Join(repoRoot, "deploy", "helm", "contactsync")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("helm template %v: %w\n%s", args, err, stderr.String())
	}
	return string(out), nil
}

// render runs helm template with args and decodes every manifest strictly:
// a field the API type does not have (a typo, a wrong nesting) fails.
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{configMaps: map[string]corev1.ConfigMap{}}
	for i, doc := range strings.Split(out, "\n---\n") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("manifest %d: %v\n%s", i, err, doc)
		}
		strict := func(into any) {
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Errorf("%s (manifest %d): %v\n%s", meta.Kind, i, err, doc)
			}
		}
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 ConfigMap":
			var cm corev1.ConfigMap
			strict(&cm)
			r.configMaps[cm.Name] = cm
		case "v1 Secret":
			strict(&corev1.Secret{})
		case "v1 Service":
			var s corev1.Service
			strict(&s)
			r.services = append(r.services, s)
		case "apps/v1 StatefulSet":
			var s appsv1.StatefulSet
			strict(&s)
			r.statefulSets = append(r.statefulSets, s)
		case "apps/v1 Deployment":
			var d appsv1.Deployment
			strict(&d)
			r.deployments = append(r.deployments, d)
		case "batch/v1 Job":
			var j batchv1.Job
			strict(&j)
			r.jobs = append(r.jobs, j)
		case "batch/v1 CronJob":
			var j batchv1.CronJob
			strict(&j)
			r.cronJobs = append(r.cronJobs, j)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			var sm monitoringv1.ServiceMonitor
			strict(&sm)
			r.serviceMonitors = append(r.serviceMonitors, sm)
		default:
			t.Errorf("manifest %d: unexpected %s %s", i, meta.APIVersion, meta.Kind)
		}
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// pendingCommands are the commands docker-compose.yml marks as being built
// elsewhere; the chart may run them too.
func pendingCommands(t *testing.T) map[string]bool {
	pending := map[string]bool{}
	for _, svc := range readCompose(t) {
		if _, ok := svc.Labels[pendingLabel]; ok && len(svc.Command) > 0 {
			pending[svc.Command[0]] = true
		}
	}
	return pending
}

// The chart renders manifests the Kubernetes API accepts field for field
// (decoded strictly into k8s.io/api types: there are no schemas to download
// where this runs), and what it says about contactsync is true: every stage
// is a StatefulSet whose pods name their CONTACTSYNC_INSTANCE, containers
// run commands of the tree with variables the code reads, probes hit
// /healthz and /readyz on the admin port, resources are set, Services
// select pods with the ports they name, the ServiceMonitor finds them.
func TestHelmChartRendersValidManifests(t *testing.T) {
	r := render(t, append([]string{"--set", "serviceMonitor.enabled=true", "--set", "secrets.values.CONTACTSYNC_DASHBOARD_USERS=admin:hash",
		"--set", "digest.enabled=true", "--set", "digest.dashboardURL=https://cs.example.org"}, appliersOn...)...)
	known := envNamesInCode(t)
	pending := pendingCommands(t)

	envCM, ok := r.configMaps["cs-contactsync-env"]
	if !ok {
		t.Fatalf("no ConfigMap cs-contactsync-env: %v", slices.Collect(maps.Keys(r.configMaps)))
	}
	for name := range envCM.Data {
		if !known[name] {
			t.Errorf("ConfigMap sets %s, which no code reads", name)
		}
	}
	files := r.configMaps["cs-contactsync-files"]
	rules, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "config", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(files.Data["rules.yaml"]) != strings.TrimSpace(string(rules)) {
		t.Error("the chart's default rules (files/rules.yaml) differ from deploy/config/rules.yaml")
	}

	type workload struct {
		kind, name string
		tmpl       corev1.PodTemplateSpec
	}
	var workloads []workload
	stages := map[string]bool{}
	for _, s := range r.statefulSets {
		workloads = append(workloads, workload{"StatefulSet", s.Name, s.Spec.Template})
		c := s.Spec.Template.Spec.Containers[0]
		if len(c.Args) == 3 && c.Args[0] == "run" && c.Args[1] == "--stages" {
			stages[c.Args[2]] = true
		}
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "CONTACTSYNC_INSTANCE" })
		if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("StatefulSet %s: CONTACTSYNC_INSTANCE is not the pod's name (its ordinal)", s.Name)
		}
		if s.Spec.ServiceName == "" {
			t.Errorf("StatefulSet %s has no serviceName", s.Name)
		}
	}
	for _, st := range app.AllStages {
		if !stages[st] {
			t.Errorf("no StatefulSet runs stage %s", st)
		}
	}
	for _, d := range r.deployments {
		workloads = append(workloads, workload{"Deployment", d.Name, d.Spec.Template})
	}
	for _, j := range r.jobs {
		workloads = append(workloads, workload{"Job", j.Name, j.Spec.Template})
	}
	// The daily digest runs as a CronJob.
	if len(r.cronJobs) != 1 {
		t.Fatalf("%d CronJobs with digest.enabled, want 1 (the digest)", len(r.cronJobs))
	}
	for _, cj := range r.cronJobs {
		c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers
		if len(c) != 1 || !slices.Equal(c[0].Args, []string{"digest"}) || cj.Spec.Schedule == "" ||
			cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("CronJob %s: schedule %q, concurrency %q, containers %+v; want one running digest daily, never twice at once",
				cj.Name, cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy, c)
		}
		workloads = append(workloads, workload{"Job", cj.Name, cj.Spec.JobTemplate.Spec.Template})
	}
	for _, w := range workloads {
		where := w.kind + " " + w.name
		for _, c := range w.tmpl.Spec.Containers {
			_, err := findCommand(c.Args)
			isPending := err != nil && len(c.Args) > 0 && pending[c.Args[0]]
			if err != nil && !isPending {
				t.Errorf("%s runs %q: %v", where, c.Args, err)
			}
			if unknown := unknownEnv(c, known); len(unknown) > 0 && !isPending {
				t.Errorf("%s sets %v, which no code reads (not in contactsync env nor in any command's help)", where, unknown)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: container %s has no memory request or limit", where, c.Name)
			}
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: container %s has a writable root filesystem", where, c.Name)
			}
			if w.kind == "Job" {
				continue
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "admin" && p.ContainerPort == 9100 }) {
				t.Errorf("%s: no admin port 9100", where)
			}
			for probe, want := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
				if want == nil || want.HTTPGet == nil || want.HTTPGet.Path != probe || want.HTTPGet.Port.String() != "admin" {
					t.Errorf("%s: probe of %s on the admin port missing: %+v", where, probe, want)
				}
			}
		}
	}

	for _, s := range r.services {
		var selected []corev1.PodTemplateSpec
		for _, w := range workloads {
			if matches(s.Spec.Selector, w.tmpl.Labels) {
				selected = append(selected, w.tmpl)
			}
		}
		if len(selected) == 0 {
			t.Errorf("Service %s selects no pod", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			for _, tmpl := range selected {
				if !slices.ContainsFunc(tmpl.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
					t.Errorf("Service %s: target port %s is not a port of the pods it selects", s.Name, p.TargetPort.String())
				}
			}
		}
	}
	if len(r.serviceMonitors) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(r.serviceMonitors))
	}
	sm := r.serviceMonitors[0]
	scraped := 0
	for _, s := range r.services {
		if matches(sm.Spec.Selector.MatchLabels, s.Labels) {
			scraped++
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port }) {
				t.Errorf("ServiceMonitor scrapes port %q, which Service %s lacks", sm.Spec.Endpoints[0].Port, s.Name)
			}
		}
	}
	if want := len(app.AllStages) + 1 + 3; scraped != want { // the stages, the gateway and the three appliers
		t.Errorf("ServiceMonitor selects %d Services, want %d", scraped, want)
	}

	// Without the operator, the default renders no ServiceMonitor; an
	// existing Secret is used instead of one the chart makes.
	def := render(t, "--set", "secrets.existingSecret=contactsync-prod")
	if len(def.serviceMonitors) != 0 {
		t.Error("ServiceMonitor rendered by default")
	}
	for _, s := range def.statefulSets {
		if args := s.Spec.Template.Spec.Containers[0].Args; len(args) > 0 && args[0] != "run" {
			t.Errorf("StatefulSet %s (%q) rendered by default: the appliers have no target until told", s.Name, args)
		}
		refs := s.Spec.Template.Spec.Containers[0].EnvFrom
		if !slices.ContainsFunc(refs, func(e corev1.EnvFromSource) bool { return e.SecretRef != nil && e.SecretRef.Name == "contactsync-prod" }) {
			t.Errorf("StatefulSet %s does not read the existing Secret: %+v", s.Name, refs)
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// appliersOn enables the appliers: the reference online platform, a Stripe
// account (system "web") and the offline system's tables.
var appliersOn = []string{
	"--set", "applyOnline.systems.online.enabled=true", "--set", "applyOnline.systems.online.url=http://platform:8091",
	"--set", "applyOnline.systems.web.enabled=true", "--set", "applyOnline.systems.web.platform=stripe",
	"--set", "applyOnline.systems.web.stripeKeySecret.name=stripe", "--set", "applyOnline.systems.web.concurrency=4",
	"--set", "applyOffline.enabled=true", "--set", "applyOffline.dsnSecret.name=offline-db", "--set", "applyOffline.schema=public",
}

// unknownEnv lists the variables container c sets that the code does not
// document (envNamesInCode), as the compose check does for its services.
func unknownEnv(c corev1.Container, known map[string]bool) []string {
	var unknown []string
	for _, e := range c.Env {
		if !known[e.Name] {
			unknown = append(unknown, e.Name)
		}
	}
	return unknown
}

// envOf is the environment container c sets: values, or "secret:NAME/KEY"
// and "field:PATH" for references.
func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch v := e.ValueFrom; {
		case v == nil:
			env[e.Name] = e.Value
		case v.SecretKeyRef != nil:
			env[e.Name] = "secret:" + v.SecretKeyRef.Name + "/" + v.SecretKeyRef.Key
		case v.FieldRef != nil:
			env[e.Name] = "field:" + v.FieldRef.FieldPath
		}
	}
	return env
}

// The appliers run as StatefulSets (static group members: a stable
// CONTACTSYNC_INSTANCE, checked with the stages above), one per online
// system and one for the offline system, with the settings of their
// commands; secrets come from Secrets, never from values in the manifest:
// the Stripe key as a mounted file (CONTACTSYNC_APPLY_STRIPE_KEY_FILE), the
// DSN by reference. A variable the code does not read fails, and so do
// enabled appliers missing what they cannot run without.
func TestHelmChartRunsTheAppliers(t *testing.T) {
	known := envNamesInCode(t)
	r := render(t, appliersOn...)
	appliers := map[string]appsv1.StatefulSet{}
	for _, s := range r.statefulSets {
		if c := s.Spec.Template.Spec.Containers[0]; len(c.Args) > 0 && c.Args[0] != "run" {
			appliers[strings.TrimPrefix(s.Name, "cs-contactsync-")] = s
		}
	}
	want := map[string]struct {
		args []string
		env  map[string]string
	}{
		"apply-online": {[]string{"apply"}, map[string]string{"CONTACTSYNC_APPLY_SYSTEM": "online", "CONTACTSYNC_APPLY_PLATFORM": "reference",
			"CONTACTSYNC_APPLY_URL": "http://platform:8091", "CONTACTSYNC_APPLY_CONCURRENCY": "8", "CONTACTSYNC_INSTANCE": "field:metadata.name"}},
		"apply-web": {[]string{"apply"}, map[string]string{"CONTACTSYNC_APPLY_SYSTEM": "web", "CONTACTSYNC_APPLY_PLATFORM": "stripe",
			"CONTACTSYNC_APPLY_CONCURRENCY": "4", "CONTACTSYNC_APPLY_STRIPE_KEY_FILE": "/var/run/secrets/contactsync/stripe-key",
			"CONTACTSYNC_INSTANCE": "field:metadata.name"}},
		"apply-offline": {[]string{"apply-offline"}, map[string]string{"CONTACTSYNC_APPLY_MODE": "table", "CONTACTSYNC_APPLY_SCHEMA": "public",
			"CONTACTSYNC_DELIVER_DSN": "secret:offline-db/CONTACTSYNC_DELIVER_DSN", "CONTACTSYNC_DELIVER_WINDOWS": "always",
			"CONTACTSYNC_DELIVER_TIMEZONE": "UTC", "CONTACTSYNC_INSTANCE": "field:metadata.name"}},
	}
	if len(appliers) != len(want) {
		t.Errorf("applier StatefulSets %v, want %v", slices.Sorted(maps.Keys(appliers)), slices.Sorted(maps.Keys(want)))
	}
	for name, w := range want {
		s, ok := appliers[name]
		if !ok {
			t.Errorf("no StatefulSet %s", name)
			continue
		}
		c := s.Spec.Template.Spec.Containers[0]
		if !slices.Equal(c.Args, w.args) {
			t.Errorf("%s runs %q, want %q", name, c.Args, w.args)
		}
		if got := envOf(c); !maps.Equal(got, w.env) {
			t.Errorf("%s env %v, want %v", name, got, w.env)
		}
		if u := unknownEnv(c, known); len(u) > 0 {
			t.Errorf("%s sets %v, which no code reads", name, u)
		}
	}
	// The Stripe key file is the Secret's key, mounted read-only.
	web := appliers["apply-web"].Spec.Template.Spec
	vi := slices.IndexFunc(web.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "stripe" })
	if vi < 0 || len(web.Volumes[vi].Secret.Items) != 1 || web.Volumes[vi].Secret.Items[0].Path != "stripe-key" {
		t.Fatalf("apply-web: no volume of Secret stripe holding stripe-key: %+v", web.Volumes)
	}
	if !slices.ContainsFunc(web.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == web.Volumes[vi].Name && m.MountPath == "/var/run/secrets/contactsync" && m.ReadOnly
	}) {
		t.Errorf("apply-web: Secret volume not mounted read-only at /var/run/secrets/contactsync: %+v", web.Containers[0].VolumeMounts)
	}

	// Files mode: the import directory is the volume given, writable.
	files := render(t, "--set", "applyOffline.enabled=true", "--set", "applyOffline.mode=files",
		"--set", "applyOffline.filesVolume.persistentVolumeClaim.claimName=imports")
	oi := slices.IndexFunc(files.statefulSets, func(s appsv1.StatefulSet) bool {
		return slices.Equal(s.Spec.Template.Spec.Containers[0].Args, []string{"apply-offline"})
	})
	if oi < 0 {
		t.Fatal("files mode: no StatefulSet runs apply-offline")
	}
	off := files.statefulSets[oi].Spec.Template.Spec
	env := envOf(off.Containers[0])
	if env["CONTACTSYNC_APPLY_MODE"] != "files" || env["CONTACTSYNC_APPLY_DIR"] == "" || env["CONTACTSYNC_DELIVER_DSN"] != "" {
		t.Errorf("files mode env %v: want mode files, a directory, no DSN", env)
	}
	mi := slices.IndexFunc(off.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == env["CONTACTSYNC_APPLY_DIR"] })
	if mi < 0 || off.Containers[0].VolumeMounts[mi].ReadOnly ||
		!slices.ContainsFunc(off.Volumes, func(v corev1.Volume) bool {
			return v.Name == off.Containers[0].VolumeMounts[mi].Name && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "imports"
		}) {
		t.Errorf("files mode: %s is not the claim imports, writable: %+v %+v", env["CONTACTSYNC_APPLY_DIR"], off.Containers[0].VolumeMounts, off.Volumes)
	}

	// A misspelt setting in an applier's env is caught.
	typo := render(t, append(slices.Clone(appliersOn), "--set", "applyOnline.env.CONTACTSYNC_APPLY_CONCURENCY=2")...)
	for _, s := range typo.statefulSets {
		c := s.Spec.Template.Spec.Containers[0]
		if slices.Equal(c.Args, []string{"apply"}) && !slices.Equal(unknownEnv(c, known), []string{"CONTACTSYNC_APPLY_CONCURENCY"}) {
			t.Errorf("%s: unknown settings %v, want the misspelt CONTACTSYNC_APPLY_CONCURENCY", s.Name, unknownEnv(c, known))
		}
	}

	// Enabled without a target, or with a bad one: helm says what is missing.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"applyOnline.systems.online.enabled=true"}, "applyOnline.systems.online.url: required"},
		{[]string{"applyOnline.systems.online.enabled=true", "applyOnline.systems.online.platform=stripe"}, "stripeKeySecret.name: required"},
		{[]string{"applyOnline.systems.online.enabled=true", "applyOnline.systems.online.platform=shopify"}, "want reference or stripe"},
		{[]string{"applyOffline.enabled=true"}, "needs the PostgreSQL DSN"},
		{[]string{"applyOffline.enabled=true", "applyOffline.mode=files"}, "applyOffline.filesVolume: required"},
		{[]string{"applyOffline.enabled=true", "applyOffline.mode=tables", "applyOffline.dsnSecret.name=x"}, "want table, staging or files"},
	} {
		var args []string
		for _, a := range tc.args {
			args = append(args, "--set", a)
		}
		if _, err := helmTemplate(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}
