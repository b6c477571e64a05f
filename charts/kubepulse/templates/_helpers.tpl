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

{{/* Labels of the `helm test` objects: not the pods' selector labels, so the Service never
picks the test pod as an endpoint. */}}
{{- define "kubepulse.testLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{- define "kubepulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubepulse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: [registry/]repository, then @digest or :tag (default appVersion). */}}
{{- define "kubepulse.image" -}}
{{- $repo := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The namespace of every namespaced object: namespaceOverride, else the release's. */}}
{{- define "kubepulse.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where the config ConfigMap is mounted, and the file --config reads. */}}
{{- define "kubepulse.configDir" -}}/etc/kubepulse/config{{- end }}

{{/*
Every flag the chart sets, as a JSON list of [flag, value, source]: the source is the value
that sets it ("" for the two that come from the downward API); an empty value (an optional
setting left unset) is not passed, but the setting is still the chart's. The container's arguments
(kubepulse.args) and the checks of _validate.tpl both read this one list, so a flag the chart
sets is also one that config: and extraArgs may not set a second time. The identity and the
Lease namespace come from the downward API (env POD_NAME, POD_NAMESPACE), which Kubernetes
substitutes for $(VAR).
*/}}
{{- define "kubepulse.chartFlags" -}}
{{- $le := .Values.leaderElection -}}
{{- $k := .Values.kubelet -}}
{{- $f := list
  (list "leader-elect" (toString $le.enabled) "leaderElection.enabled")
  (list "identity" "$(POD_NAME)" "")
  (list "lease-name" (toString $le.leaseName) "leaderElection.leaseName")
  (list "lease-namespace" "$(POD_NAMESPACE)" "")
  (list "lease-duration" (toString $le.leaseDuration) "leaderElection.leaseDuration")
  (list "renew-deadline" (toString $le.renewDeadline) "leaderElection.renewDeadline")
  (list "retry-period" (toString $le.retryPeriod) "leaderElection.retryPeriod")
  (list "metric-resolution" (toString .Values.metricResolution) "metricResolution")
  (list "kubelet-preferred-address-types" (toString $k.preferredAddressTypes) "kubelet.preferredAddressTypes")
  (list "kubelet-port" (toString $k.port) "kubelet.port")
  (list "kubelet-timeout" (toString $k.timeout) "kubelet.timeout")
  (list "kubelet-insecure-tls" (toString $k.insecureTLS) "kubelet.insecureTLS")
-}}
{{- $f = append $f (list "kubelet-certificate-authority" (toString $k.certificateAuthority) "kubelet.certificateAuthority") }}
{{- $s := .Values.scope }}
{{- $f = append $f (list "node-selector" (toString $s.nodeSelector) "scope.nodeSelector") }}
{{- $f = append $f (list "metric-allow" (join "," $s.metrics.allow) "scope.metrics.allow") }}
{{- $f = append $f (list "metric-deny" (join "," $s.metrics.deny) "scope.metrics.deny") }}
{{- $f = append $f (list "namespace-include" (join "," $s.namespaces.include) "scope.namespaces.include") }}
{{- $f = append $f (list "namespace-exclude" (join "," $s.namespaces.exclude) "scope.namespaces.exclude") }}
{{- range .Values.sinks }}
{{- $f = append $f (list "sink" (toString .) "sinks") }}
{{- end }}
{{- $f = append $f (list "listen" (printf "%s:%v" (ternary "$(POD_IP)" "" .Values.hostNetwork) .Values.containerPort) "containerPort") }}
{{- if .Values.metricsApi.enabled }}
{{- $m := .Values.metricsApi }}
{{- $dir := "/etc/kubepulse/metrics-api" }}
{{- $f = append $f (list "metrics-api-listen" (printf "%s:%v" (ternary "$(POD_IP)" "" .Values.hostNetwork) $m.port) "metricsApi.port") }}
{{- $f = append $f (list "tls-cert-file" (printf "%s/tls.crt" $dir) "metricsApi.tls") }}
{{- $f = append $f (list "tls-private-key-file" (printf "%s/tls.key" $dir) "metricsApi.tls") }}
{{- $f = append $f (list "metrics-api-ca-file" (printf "%s/ca.crt" $dir) "metricsApi.tls") }}
{{- $f = append $f (list "metrics-api-peer-server-name" (printf "%s-metrics-api.%s.svc" (include "kubepulse.fullname" .) (include "kubepulse.namespace" .)) "") }}
{{- end }}
{{- /* "off" unquoted is YAML's false: the same */}}
{{- $f = append $f (list "model-api" (ternary "off" (toString .Values.modelApi) (eq (toString .Values.modelApi) "false")) "modelApi") }}
{{- $f = append $f (list "logging-format" (toString .Values.log.format) "log.format") }}
{{- $f = append $f (list "v" (toString .Values.log.verbosity) "log.verbosity") }}
{{- toJson $f }}
{{- end }}

{{/* The container's arguments: the chart's flags, --config when config: is set, extraArgs. */}}
{{- define "kubepulse.args" -}}
{{- $args := list }}
{{- range include "kubepulse.chartFlags" . | fromJsonArray }}
{{- if ne (index . 1) "" }}
{{- $args = append $args (printf "--%s=%s" (index . 0) (index . 1)) }}
{{- end }}
{{- end }}
{{- if .Values.config }}
{{- $args = append $args (printf "--config=%s/kubepulse.yaml" (include "kubepulse.configDir" .)) }}
{{- end }}
{{- range .Values.extraArgs }}
{{- $args = append $args (toString .) }}
{{- end }}
{{- toYaml $args }}
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

{{/* The Secret holding the metrics API's serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "kubepulse.metricsApiSecret" -}}
{{- if eq .Values.metricsApi.tls.source "secret" }}
{{- .Values.metricsApi.tls.existingSecret }}
{{- else }}
{{- printf "%s-metrics-api-tls" (include "kubepulse.fullname" .) }}
{{- end }}
{{- end }}
