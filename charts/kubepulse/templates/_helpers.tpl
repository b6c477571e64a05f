{{/*
Names and labels shared by every template.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "kubepulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: fullnameOverride, else RELEASE-NAME, else RELEASE when it already
contains the chart name (so release "kubepulse" gives "kubepulse", not "kubepulse-kubepulse").
Truncated to 63 characters, the limit of a DNS label.
*/}}
{{- define "kubepulse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubepulse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kubepulse.labels" -}}
helm.sh/chart: {{ include "kubepulse.chart" . }}
{{ include "kubepulse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: metrics-collector
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the pods: never change them, Deployment selectors are immutable. */}}
{{- define "kubepulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubepulse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubepulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubepulse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kubepulse.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the config ConfigMap is mounted, and the file --config reads. */}}
{{- define "kubepulse.configDir" -}}/etc/kubepulse/config{{- end }}

{{/*
The container's arguments, from values. The identity and the Lease namespace come from the
downward API (env POD_NAME, POD_NAMESPACE), which Kubernetes substitutes for $(VAR).
*/}}
{{- define "kubepulse.args" -}}
{{- $le := .Values.leaderElection -}}
- --leader-elect={{ $le.enabled }}
- --identity=$(POD_NAME)
- --lease-name={{ $le.leaseName }}
- --lease-namespace=$(POD_NAMESPACE)
- --lease-duration={{ $le.leaseDuration }}
- --renew-deadline={{ $le.renewDeadline }}
- --retry-period={{ $le.retryPeriod }}
- --metric-resolution={{ .Values.metricResolution }}
- --kubelet-preferred-address-types={{ .Values.kubelet.preferredAddressTypes }}
- --kubelet-port={{ .Values.kubelet.port }}
- --kubelet-timeout={{ .Values.kubelet.timeout }}
- --kubelet-insecure-tls={{ .Values.kubelet.insecureTLS }}
{{- with .Values.kubelet.certificateAuthority }}
- --kubelet-certificate-authority={{ . }}
{{- end }}
{{- range .Values.sinks }}
- {{ printf "--sink=%s" . | quote }}
{{- end }}
{{- if .Values.hostNetwork }}
- --listen=$(POD_IP):{{ .Values.containerPort }}
{{- else }}
- --listen=:{{ .Values.containerPort }}
{{- end }}
- --log-format={{ .Values.log.format }}
- --v={{ .Values.log.verbosity }}
{{- if .Values.config }}
- --config={{ include "kubepulse.configDir" . }}/kubepulse.yaml
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* dnsPolicy: the value, else ClusterFirstWithHostNet on hostNetwork, else none (the default). */}}
{{- define "kubepulse.dnsPolicy" -}}
{{- if .Values.dnsPolicy }}
{{- .Values.dnsPolicy }}
{{- else if .Values.hostNetwork }}
{{- "ClusterFirstWithHostNet" }}
{{- end }}
{{- end }}

{{/*
With apiServer.host: the variables in-cluster configuration reads, and every other variable the
kubelet injects for the `kubernetes` Service (it does so whatever enableServiceLinks says), all
pointing at apiServer.host:port instead of the Service's ClusterIP. Container env wins over them.
*/}}
{{- define "kubepulse.apiServerEnv" -}}
{{- with .Values.apiServer.host }}
{{- $port := $.Values.apiServer.port | toString }}
{{- $hostport := ternary (printf "[%s]:%s" . $port) (printf "%s:%s" . $port) (contains ":" .) }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ . | quote }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ $port | quote }}
- name: KUBERNETES_SERVICE_PORT_HTTPS
  value: {{ $port | quote }}
- name: KUBERNETES_PORT
  value: {{ printf "tcp://%s" $hostport | quote }}
- name: KUBERNETES_PORT_443_TCP
  value: {{ printf "tcp://%s" $hostport | quote }}
- name: KUBERNETES_PORT_443_TCP_PROTO
  value: tcp
- name: KUBERNETES_PORT_443_TCP_PORT
  value: {{ $port | quote }}
- name: KUBERNETES_PORT_443_TCP_ADDR
  value: {{ . | quote }}
{{- end }}
{{- end }}
