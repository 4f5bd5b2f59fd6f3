{{- define "contactsync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "contactsync.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "contactsync.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "contactsync.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "contactsync.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "contactsync.fullname" .)) -}}
{{- end -}}

{{/* Environment of every contactsync container: the ConfigMap's settings,
the Secret's, the rules file and the admin address. */}}
{{- define "contactsync.envFrom" -}}
- configMapRef:
    name: {{ include "contactsync.fullname" . }}-env
- secretRef:
    name: {{ include "contactsync.secretName" . }}
{{- end -}}

{{- define "contactsync.volumeMounts" -}}
- name: config
  mountPath: /etc/contactsync
  readOnly: true
{{- end -}}

{{- define "contactsync.volumes" -}}
- name: config
  configMap:
    name: {{ include "contactsync.fullname" . }}-files
{{- end -}}

{{- define "contactsync.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: admin}
  periodSeconds: 5
  failureThreshold: 24
livenessProbe:
  httpGet: {path: /healthz, port: admin}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: admin}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* Pod placement and security, without the volumes (appliers add theirs). */}}
{{- define "contactsync.podPlacement" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "contactsync.podSpecCommon" -}}
{{ include "contactsync.podPlacement" . }}
volumes:
  {{- include "contactsync.volumes" . | nindent 2 }}
{{- end -}}

{{/* The headless Service of a StatefulSet: stable pod names, and the
ServiceMonitor finds their admin ports. Takes root, name and component. */}}
{{- define "contactsync.headlessService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  labels:
    {{- include "contactsync.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    contactsync.io/metrics: "true"
spec:
  clusterIP: None
  selector:
    {{- include "contactsync.selector" (dict "root" .root "component" .component) | nindent 4 }}
  ports:
    - {name: admin, port: 9100, targetPort: admin}
{{- end -}}

{{/* Extra settings of a workload (a map), as container env entries. */}}
{{- define "contactsync.extraEnv" -}}
{{- range $k, $v := . }}
- {name: {{ $k }}, value: {{ $v | toString | quote }}}
{{- end }}
{{- end -}}
