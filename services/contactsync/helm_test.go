package main

import (
	"bytes"
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

// render runs helm template with args and decodes every manifest strictly:
// a field the API type does not have (a typo, a wrong nesting) fails.
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	cmd := exec.Command(helmBinary(t), append([]string{"template", "cs", filepath.Join(repoRoot, "deploy", "helm", "contactsync")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	r := rendered{configMaps: map[string]corev1.ConfigMap{}}
	for i, doc := range strings.Split(string(out), "\n---\n") {
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
	r := render(t, "--set", "serviceMonitor.enabled=true", "--set", "secrets.values.CONTACTSYNC_DASHBOARD_USERS=admin:hash",
		"--set", "digest.enabled=true", "--set", "digest.dashboardURL=https://cs.example.org")
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
			for _, e := range c.Env {
				if !known[e.Name] && !isPending {
					t.Errorf("%s sets %s, which no code reads", where, e.Name)
				}
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
	if want := len(app.AllStages) + 1; scraped != want { // the stages and the gateway
		t.Errorf("ServiceMonitor selects %d Services, want %d", scraped, want)
	}

	// Without the operator, the default renders no ServiceMonitor; an
	// existing Secret is used instead of one the chart makes.
	def := render(t, "--set", "secrets.existingSecret=contactsync-prod")
	if len(def.serviceMonitors) != 0 {
		t.Error("ServiceMonitor rendered by default")
	}
	for _, s := range def.statefulSets {
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
