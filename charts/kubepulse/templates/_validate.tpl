{{/*
_validate.tpl - values that would make the pods crash-loop fail `helm install` instead, with
the message the binary gives for the same mistake (src/app/options.c, sinks/); values after
"[" name where it came from in the chart. tests/integration/test_packaging.py runs the binary
on each case and compares the two messages.

Every setting has one source: a flag the chart sets from a value (kubepulse.chartFlags) may not
also be a key of config: or a flag in extraArgs, and config: and extraArgs may not both set
one; a conflict fails with a message naming both places.

The option table below mirrors the binary's (`kubepulse --help`); the test checks that they
list the same options with the same types. Per option: type, then the integer bounds.
*/}}
{{- define "kubepulse.optionTable" -}}
config: string
kubeconfig: string
context: string
leader-elect: bool
identity: string
lease-name: string
lease-namespace: string
lease-duration: duration
renew-deadline: duration
retry-period: duration
metric-resolution: duration 1 3600
kubelet-preferred-address-types: string
kubelet-port: int 1 65535
kubelet-certificate-authority: string
kubelet-token-file: string
kubelet-insecure-tls: bool
kubelet-timeout: duration 0.001 3600
kubelet-max-concurrency: int 1 100000
kubelet-max-body-size: size
watch-pods: bool
node-selector: string
metric-allow: string
metric-deny: string
namespace-include: string
namespace-exclude: string
label-separator: string
ignore-label: list
store-label: list
source: string
sink: list
sink-batch-lines: int 1 10000000
sink-buffer-size: string
sink-timeout: duration 0.001 3600
sink-concurrency: int 1 64
sink-flush-timeout: duration 0 3600
metrics-api-listen: string
heapster-port: int 0 65535
tls-cert-file: string
tls-private-key-file: string
metrics-api-advertise-address: string
metrics-api-ca-file: string
metrics-api-peer-server-name: string
check-release: bool
check-timeout: duration 1 3600
listen: string
logging-format: string
v: int 0 10
vmodule: string
log-format: string
logtostderr: ignored
alsologtostderr: ignored
stderrthreshold: ignored
log-dir: ignored
log-backtrace-at: ignored
log-flush-frequency: ignored
api-server: ignored
listen-ip: ignored
max-procs: ignored
tls-cert: ignored
tls-key: ignored
tls-client-ca: ignored
allowed-users: ignored
historical-source: ignored
disable-export: ignored
sink-export-data-timeout: ignored
disable-metric-sink: bool
model-api: string
bind-address: ignored
secure-port: ignored
cert-dir: ignored
tls-ca-file: ignored
tls-sni-cert-key: ignored
public-address-override: ignored
requestheader-username-headers: ignored
requestheader-group-headers: ignored
requestheader-extra-headers-prefix: ignored
requestheader-client-ca-file: ignored
requestheader-allowed-names: ignored
client-ca-file: ignored
authentication-kubeconfig: ignored
authentication-token-webhook-cache-ttl: ignored
authentication-skip-lookup: ignored
authorization-kubeconfig: ignored
authorization-webhook-cache-authorized-ttl: ignored
authorization-webhook-cache-unauthorized-ttl: ignored
profiling: ignored
contention-profiling: ignored
enable-swagger-ui: ignored
{{- end }}

{{/* The defaults of the options the cross-checks read that the chart may not set. */}}
{{- define "kubepulse.optionDefaults" -}}
metric-allow: ""
metric-deny: ""
{{- end }}

{{/* Sink types and their URI options, in the order of the binary's "known:" lists. */}}
{{- define "kubepulse.sinkOptions" -}}
influxdb: [user, pw, pwFile, pwEnv, db, retention, rp, createdb, withfields, cluster_name, disable_counter_metrics, concurrency, insecuressl, secure, gzip, withids]
influxdb2: [org, bucket, tokenFile, tokenEnv, withfields, cluster_name, disable_counter_metrics, concurrency, insecuressl, secure, gzip, withids]
log: [withfields, cluster_name, disable_counter_metrics, withids]
"null": [encode, cluster_name, withfields, withids]
{{- end }}

{{/* The metric names of docs/metrics.md (src/include/metric.h), for --metric-allow/-deny. */}}
{{- define "kubepulse.metricNames" -}}
cpu/limit cpu/node_allocatable cpu/node_capacity cpu/node_reservation cpu/node_utilization
cpu/request cpu/usage cpu/usage_rate ephemeral_storage/usage filesystem/available
filesystem/inodes filesystem/inodes_free filesystem/limit filesystem/usage memory/cache
memory/limit memory/major_page_faults memory/major_page_faults_rate memory/node_allocatable
memory/node_capacity memory/node_reservation memory/node_utilization memory/page_faults
memory/page_faults_rate memory/request memory/rss memory/usage memory/working_set network/rx
network/rx_errors network/rx_errors_rate network/rx_rate network/tx network/tx_errors
network/tx_errors_rate network/tx_rate uptime
{{- end }}

{{/*
A Go duration ("15s", "1m30s", "250ms", "0") in seconds as text, or "" when it is not one:
the grammar of kp_parse_duration.
*/}}
{{- define "kubepulse.seconds" -}}
{{- $s := toString . }}
{{- if eq $s "0" }}0
{{- else if regexMatch "^(([0-9]+\\.?[0-9]*|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$" $s }}
{{- $scale := dict "ns" 1e-9 "us" 1e-6 "µs" 1e-6 "ms" 1e-3 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll "([0-9]+\\.?[0-9]*|\\.[0-9]+)(ns|us|µs|ms|s|m|h)" $s -1 }}
{{- $num := regexFind "^[0-9.]+" . }}
{{- $total = addf $total (mulf (float64 $num) (index $scale (trimPrefix $num .))) }}
{{- end }}
{{- $total }}
{{- end }}
{{- end }}

{{/* An fnmatch(3) pattern (* ? [...] [!...]) as an anchored regular expression. */}}
{{- define "kubepulse.globRegex" -}}
{{- $re := regexReplaceAll "([.+^$(){}|\\\\])" (toString .) "\\${1}" }}
{{- $re = $re | replace "*" ".*" | replace "?" "." | replace "[!" "[^" }}
{{- printf "^%s$" $re }}
{{- end }}

{{/* A comma-separated list of metric or namespace patterns: the collector's checks
(collector_check_metrics, collector_check_namespaces). Argument: list kind value where hint. */}}
{{- define "kubepulse.checkScopeList" -}}
{{- $kind := index . 0 }}{{ $v := index . 1 }}{{ $where := index . 2 }}{{ $hint := index . 3 }}
{{- if $v }}
{{- $names := splitList " " (include "kubepulse.metricNames" . | replace "\n" " ") }}
{{- range splitList "," $v }}
{{- $e := trim . }}
{{- if not $e }}
{{- fail (printf "%s: empty entry in \"%s\"%s" $where $v $hint) }}
{{- end }}
{{- if eq $kind "metrics" }}
{{- $re := include "kubepulse.globRegex" $e }}
{{- $hit := false }}
{{- range $names }}{{ if regexMatch $re . }}{{ $hit = true }}{{ end }}{{ end }}
{{- if not $hit }}
{{- fail (printf "%s: \"%s\" matches no metric (names as in docs/metrics.md, e.g. cpu/usage_rate, memory/*)%s" $where $e $hint) }}
{{- end }}
{{- else if or (not (regexMatch "^[a-z0-9*?\\[\\]!-]+$" $e)) (gt (len $e) 63) }}
{{- fail (printf "%s: \"%s\" is not a namespace name or pattern (lowercase letters, digits and '-', with * ? [...] as wildcards, at most 63 characters)%s" $where $e $hint) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* One value of option $name from $where ("flag --x" or "FILE:LINE: key \"x\""): fail as
the binary's kp_opt_set does. Argument: list name value where hint. */}}
{{- define "kubepulse.checkValue" -}}
{{- $name := index . 0 }}{{ $v := index . 1 }}{{ $where := index . 2 }}{{ $hint := index . 3 }}
{{- $spec := splitList " " (get (include "kubepulse.optionTable" . | fromYaml) $name) }}
{{- $type := first $spec }}
{{- if eq $type "duration" }}
{{- $sec := include "kubepulse.seconds" $v }}
{{- if eq $sec "" }}
{{- fail (printf "%s: invalid duration \"%s\" (e.g. 500ms, 15s, 1m)%s" $where $v $hint) }}
{{- end }}
{{- if gt (len $spec) 1 }}
{{- $min := index $spec 1 | float64 }}{{ $max := index $spec 2 | float64 }}
{{- if or (lt (float64 $sec) $min) (gt (float64 $sec) $max) }}
{{- fail (printf "%s: %s is out of range (from %gs to %gs)%s" $where $v $min $max $hint) }}
{{- end }}
{{- end }}
{{- else if eq $type "int" }}
{{- $min := index $spec 1 | int64 }}{{ $max := index $spec 2 | int64 }}
{{- if or (not (regexMatch "^[-+]?[0-9]+$" $v)) (lt (int64 $v) $min) (gt (int64 $v) $max) }}
{{- fail (printf "%s: invalid value \"%s\" (an integer from %d to %d)%s" $where $v $min $max $hint) }}
{{- end }}
{{- else if eq $type "bool" }}
{{- if not (has $v (list "1" "t" "T" "TRUE" "true" "True" "0" "f" "F" "FALSE" "false" "False" "yes" "no")) }}
{{- fail (printf "%s: invalid boolean \"%s\" (use true or false)%s" $where $v $hint) }}
{{- end }}
{{- else if eq $type "size" }}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|K|M|G)?$" $v) }}
{{- fail (printf "%s: invalid size \"%s\" (e.g. 4096, 64Ki, 64Mi, 1Gi)%s" $where $v $hint) }}
{{- end }}
{{- else if eq $name "sink-buffer-size" }}
{{- if not (regexMatch "^[1-9][0-9]*(|points|k|K|M|G|Ki|Mi|Gi|Ti)$" $v) }}
{{- fail (printf "%s: invalid size \"%s\" (e.g. 256Mi or 2000000points)%s" $where $v $hint) }}
{{- end }}
{{- else if or (eq $name "logging-format") (eq $name "log-format") }}
{{- if not (has $v (list "text" "json")) }}
{{- fail (printf "%s: invalid value \"%s\" (text or json)%s" $where $v $hint) }}
{{- end }}
{{- else if eq $name "model-api" }}
{{- if not (has $v (list "on-demand" "always" "off")) }}
{{- fail (printf "%s: invalid value \"%s\" (on-demand, always or off)%s" $where $v $hint) }}
{{- end }}
{{- else if eq $name "vmodule" }}
{{- if not (regexMatch "^(,|[^,=]+=[0-9]+)*$" $v) }}
{{- fail (printf "%s: syntax error: expect comma-separated list of filename=N%s" $where $hint) }}
{{- end }}
{{- else if or (eq $name "metric-allow") (eq $name "metric-deny") }}
{{- include "kubepulse.checkScopeList" (list "metrics" $v $where $hint) }}
{{- else if or (eq $name "namespace-include") (eq $name "namespace-exclude") }}
{{- include "kubepulse.checkScopeList" (list "namespaces" $v $where $hint) }}
{{- else if eq $name "node-selector" }}
{{- include "kubepulse.checkSelector" (list $v $where $hint) }}
{{- end }}
{{- end }}

{{/*
A label selector (kube_selector.c's grammar, as the API server's labelSelector): the chart
checks the whole with one expression and gives the binary's message up to its reason, which
only the binary details.
*/}}
{{- define "kubepulse.checkSelector" -}}
{{- $v := index . 0 }}{{ $where := index . 1 }}{{ $hint := index . 2 }}
{{- $dns := "[a-z0-9]([-a-z0-9]*[a-z0-9])?" }}
{{- $key := printf "(%s(\\.%s)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?" $dns $dns }}
{{- $val := "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?" }}
{{- /* a set's values may be empty ("(a,,b)", "(,a)"), the set may not */}}
{{- $set := printf "\\(\\s*(%s|((%s)?\\s*,\\s*)+(%s)?)\\s*\\)" $val $val $val }}
{{- $req := printf "\\s*(!\\s*%s|%s\\s*((==?|!=)\\s*(%s)?|\\s(in|notin)\\s*%s|[<>]\\s*[-+]?[0-9]+)?)\\s*" $key $key $val $set }}
{{- /* the binary's bounds: a key's prefix at most 253, the whole at most 4096, at most 32
requirements and 32 values in a set */}}
{{- $bad := or (not (regexMatch (printf "^(\\s*|%s(,%s)*)$" $req $req) $v)) (regexMatch "[-a-z0-9.]{254}/" $v) (gt (len $v) 4096) }}
{{- if gt (len (splitList "," (regexReplaceAll "\\([^)]*\\)" $v "()"))) 32 }}{{ $bad = true }}{{ end }}
{{- range regexFindAll "\\([^)]*\\)" $v -1 }}{{ if gt (len (splitList "," .)) 32 }}{{ $bad = true }}{{ end }}{{ end }}
{{- if $bad }}
{{- fail (printf "%s: invalid label selector \"%s\"%s" $where $v $hint) }}
{{- end }}
{{- end }}

{{/* The --sink URI number $n: fail as the binary's sink_check does. Argument: list uri n
hint. */}}
{{- define "kubepulse.checkSink" -}}
{{- $uri := index . 0 }}{{ $n := index . 1 }}{{ $hint := index . 2 }}
{{- $where := "flag --sink:" }}
{{- $hint = printf " (#%d)%s" (int $n) $hint }}
{{- $known := include "kubepulse.sinkOptions" . | fromYaml }}
{{- $head := regexReplaceAll "\\?.*$" $uri "" }}
{{- $query := "" }}
{{- if contains "?" $uri }}{{ $query = regexReplaceAll "^[^?]*\\?" $uri "" }}{{ end }}
{{- $prefix := regexReplaceAll ":.*$" $head "" }}
{{- $target := "" }}
{{- if contains ":" $head }}{{ $target = regexReplaceAll "^[^:]*:" $head "" }}{{ end }}
{{- if not (hasKey $known $prefix) }}
{{- fail (printf "%s unknown sink \"%s\" (known: influxdb, influxdb2, log, null)%s" $where $prefix $hint) }}
{{- end }}
{{- $opts := dict }}
{{- range splitList "&" $query }}
{{- if . }}
{{- $key := regexReplaceAll "=.*$" . "" }}
{{- $val := "" }}
{{- if contains "=" . }}{{ $val = regexReplaceAll "^[^=]*=" . "" }}{{ end }}
{{- if not (has $key (get $known $prefix)) }}
{{- fail (printf "%s unknown option \"%s\" in --sink=%s (known: %s)%s" $where $key $prefix (join " " (get $known $prefix)) $hint) }}
{{- end }}
{{- $_ := set $opts $key $val }}
{{- end }}
{{- end }}
{{- if hasPrefix "influxdb" $prefix }}
{{- if not (regexMatch "^(?i:https?)://[^/:?]+" $target) }}
{{- fail (printf "%s \"%s\" is not http(s)://HOST[:PORT]%s" $where $target $hint) }}
{{- end }}
{{- if and (eq $prefix "influxdb2") (or (not (get $opts "org")) (not (get $opts "bucket"))) }}
{{- fail (printf "%s --sink=influxdb2 needs org= and bucket=%s" $where $hint) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubepulse.validate" -}}
{{- $table := include "kubepulse.optionTable" . | fromYaml }}
{{- $cfgFile := printf "%s/kubepulse.yaml" (include "kubepulse.configDir" .) }}
{{- $cfgLines := splitList "\n" (toYaml .Values.config) }}
{{- $eff := include "kubepulse.optionDefaults" . | fromYaml }}
{{- /* config: keys by name, '_' and '-' alike (as the binary matches them). */}}
{{- $cfgNames := dict }}
{{- range $key, $_ := .Values.config }}{{ $_ := set $cfgNames ($key | replace "_" "-") $key }}{{ end }}
{{- $chart := dict }}
{{- range include "kubepulse.chartFlags" . | fromJsonArray }}
{{- $_ := set $chart (index . 0) (index . 2) }}
{{- end }}
{{- /* --log-format is the binary's alias of --logging-format: the same setting. */}}
{{- $_ := set $chart "log-format" (get $chart "logging-format") }}
{{- /* The flags of extraArgs: name (Heapster's "_" spelling too) -> value. */}}
{{- $extra := dict }}
{{- $extraOrder := list }}
{{- range .Values.extraArgs }}
{{- $arg := toString . }}
{{- $name := regexReplaceAll "=.*$" (regexReplaceAll "^--?" $arg "") "" | replace "_" "-" }}
{{- $val := "true" }}
{{- if contains "=" $arg }}{{ $val = regexReplaceAll "^[^=]*=" $arg "" }}{{ end }}
{{- if not (hasKey $table $name) }}
{{- fail (printf "unknown flag %s (see kubepulse --help) [extraArgs]" (regexReplaceAll "=.*$" $arg "")) }}
{{- end }}
{{- if hasKey $chart $name }}
{{- $src := get $chart $name }}
{{- fail (printf "extraArgs: --%s is set by the chart%s; one source per setting: %s" $name (ternary (printf " from the value %s" $src) " (from the downward API)" (ne $src "")) (ternary (printf "set %s instead" $src) "remove it from extraArgs" (ne $src ""))) }}
{{- end }}
{{- if hasKey $cfgNames $name }}
{{- fail (printf "extraArgs: --%s is also a key of config; one source per setting: set it in one of the two" $name) }}
{{- end }}
{{- if eq $name "config" }}
{{- fail "extraArgs: --config is the chart's (from the value config); one source per setting: set options in config" }}
{{- end }}
{{- $_ := set $extra $name $val }}
{{- $extraOrder = append $extraOrder (list $name $val) }}
{{- end }}
{{- /* config: keys, in the order of the file the ConfigMap holds (toYaml sorts them). */}}
{{- range $key, $val := .Values.config }}
{{- $name := $key | replace "_" "-" }}
{{- $line := 0 }}
{{- range $i, $l := $cfgLines }}{{ if hasPrefix (printf "%s:" $key) $l }}{{ $line = add1 $i }}{{ end }}{{ end }}
{{- if or (not (hasKey $table $name)) (eq $name "config") (eq (get $table $name) "ignored") }}
{{- fail (printf "%s:%d: unknown key \"%s\" (see kubepulse --help) [config]" $cfgFile $line $key) }}
{{- end }}
{{- if hasKey $chart $name }}
{{- $src := get $chart $name }}
{{- fail (printf "config: key \"%s\" is set by the chart as --%s%s; one source per setting: %s" $key $name (ternary (printf " from the value %s" $src) " (from the downward API)" (ne $src "")) (ternary (printf "set %s instead" $src) "remove it from config" (ne $src ""))) }}
{{- end }}
{{- if kindIs "slice" $val }}
{{- range $val }}
{{- include "kubepulse.checkValue" (list $name (toString .) (printf "%s:%d: key \"%s\"" $cfgFile $line $key) " [config]") }}
{{- end }}
{{- else }}
{{- include "kubepulse.checkValue" (list $name (toString $val) (printf "%s:%d: key \"%s\"" $cfgFile $line $key) " [config]") }}
{{- $_ := set $eff $name (toString $val) }}
{{- end }}
{{- end }}
{{- /* The chart's flags, then extraArgs, in argv order. */}}
{{- range include "kubepulse.chartFlags" . | fromJsonArray }}
{{- $hint := ternary (printf " [value %s]" (index . 2)) "" (ne (index . 2) "") }}
{{- include "kubepulse.checkValue" (list (index . 0) (index . 1) (printf "flag --%s" (index . 0)) $hint) }}
{{- $_ := set $eff (index . 0) (index . 1) }}
{{- end }}
{{- range $extraOrder }}
{{- include "kubepulse.checkValue" (list (index . 0) (index . 1) (printf "flag --%s" (index . 0)) " [extraArgs]") }}
{{- $_ := set $eff (index . 0) (index . 1) }}
{{- end }}
{{- /* The binary's cross-option checks (kp_options_validate), in its order. */}}
{{- $lease := include "kubepulse.seconds" (get $eff "lease-duration") | float64 }}
{{- $renew := include "kubepulse.seconds" (get $eff "renew-deadline") | float64 }}
{{- $retry := include "kubepulse.seconds" (get $eff "retry-period") | float64 }}
{{- $res := include "kubepulse.seconds" (get $eff "metric-resolution") | float64 }}
{{- $ktimeout := include "kubepulse.seconds" (get $eff "kubelet-timeout") | float64 }}
{{- /* client-go's rules, as the elector states them (elector_check_timing). */}}
{{- $le := "" }}
{{- if or (lt $lease 1.0) (gt $lease 2147483647.0) }}
{{- $le = "leaseDuration must be at least 1s" }}
{{- else if lt $renew 1.0 }}
{{- $le = "renewDeadline must be at least 1s" }}
{{- else if lt $retry 1.0 }}
{{- $le = "retryPeriod must be at least 1s" }}
{{- else if or (le $lease $renew) (le (floor $lease) $renew) }}
{{- $le = "leaseDuration must be greater than renewDeadline (in whole seconds, as written to the Lease)" }}
{{- else if le $renew (mulf 1.2 $retry) }}
{{- $le = "renewDeadline must be greater than retryPeriod*JitterFactor (1.2)" }}
{{- end }}
{{- if $le }}
{{- fail (printf "flags --lease-duration, --renew-deadline, --retry-period: %s [values leaderElection.leaseDuration, renewDeadline, retryPeriod]" $le) }}
{{- end }}
{{- $model := get $eff "model-api" | default "" }}
{{- if and (has (toString (get $eff "disable-metric-sink")) (list "1" "t" "T" "TRUE" "true" "True" "yes")) $model (ne $model "off") }}
{{- fail (printf "flags --disable-metric-sink and --model-api=%s conflict: --disable-metric-sink turns Heapster's model API off; give one of them (--model-api=off is the same) [value modelApi: set it to off]" $model) }}
{{- end }}
{{- if ge $ktimeout $res }}
{{- fail "flag --kubelet-timeout must be shorter than --metric-resolution [values kubelet.timeout, metricResolution]" }}
{{- end }}
{{- $allow := get $eff "metric-allow" }}
{{- $deny := get $eff "metric-deny" }}
{{- if or $allow $deny }}
{{- $left := 0 }}
{{- range splitList " " (include "kubepulse.metricNames" . | replace "\n" " ") }}
{{- $m := . }}
{{- $in := not $allow }}
{{- range splitList "," $allow }}{{ if and (trim .) (regexMatch (include "kubepulse.globRegex" (trim .)) $m) }}{{ $in = true }}{{ end }}{{ end }}
{{- range splitList "," $deny }}{{ if and (trim .) (regexMatch (include "kubepulse.globRegex" (trim .)) $m) }}{{ $in = false }}{{ end }}{{ end }}
{{- if $in }}{{ $left = add1 $left }}{{ end }}
{{- end }}
{{- if eq $left 0 }}
{{- fail "flags --metric-allow and --metric-deny leave no metric to write [values scope.metrics.allow, deny]" }}
{{- end }}
{{- end }}
{{- range $i, $uri := .Values.sinks }}
{{- include "kubepulse.checkSink" (list (toString $uri) (add1 $i) " [value sinks]") }}
{{- end }}
{{- end }}
