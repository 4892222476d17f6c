{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "flightrec-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name of the release's objects: fullnameOverride, else
<release>-<chart name>, shortened to the release name when it already
contains the chart name. Truncated to 63 characters (DNS-1123 label).
*/}}
{{- define "flightrec-exporter.fullname" -}}
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

{{/*
chart label value: <name>-<version>.
*/}}
{{- define "flightrec-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the DaemonSet's pods. They never change after the first
install (a DaemonSet's selector is immutable), and they are also the
--dump.peer-selector with which an exporter finds its peers.
*/}}
{{- define "flightrec-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flightrec-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of every object of the chart.
*/}}
{{- define "flightrec-exporter.labels" -}}
helm.sh/chart: {{ include "flightrec-exporter.chart" . }}
{{ include "flightrec-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: flightrec
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The selector labels as a Kubernetes label selector string
(name=value,name=value), for --dump.peer-selector.
*/}}
{{- define "flightrec-exporter.peerSelector" -}}
{{- $pairs := list }}
{{- range $k, $v := include "flightrec-exporter.selectorLabels" . | fromYaml }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/*
Name of the ServiceAccount the pods run as.
*/}}
{{- define "flightrec-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flightrec-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image: repository:tag, or repository@digest when a digest is set.
The tag defaults to the chart's appVersion.
*/}}
{{- define "flightrec-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
"true" when the exporter gets a --web.config.file (TLS or basic auth on),
else "".
*/}}
{{- define "flightrec-exporter.webConfigEnabled" -}}
{{- if or .Values.web.tls.enabled (not (empty .Values.web.basicAuth.users)) }}true{{ end }}
{{- end }}

{{/*
URL scheme of the exporter's endpoints: HTTPS when TLS is on.
*/}}
{{- define "flightrec-exporter.scheme" -}}
{{- if .Values.web.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/*
Where the chart's files are mounted in the container.
*/}}
{{- define "flightrec-exporter.cgroupfsMount" -}}/host/sys/fs/cgroup{{- end }}
{{- define "flightrec-exporter.bpffsMount" -}}/host/sys/fs/bpf{{- end }}
{{- define "flightrec-exporter.webConfigDir" -}}/etc/flightrec/web{{- end }}
{{- define "flightrec-exporter.tlsDir" -}}/etc/flightrec/tls{{- end }}
{{- define "flightrec-exporter.stateDir" -}}/var/lib/flightrec{{- end }}

{{/*
Checks values that the schema cannot express; fails the render with a clear
message. Included once, from the DaemonSet.
*/}}
{{- define "flightrec-exporter.validate" -}}
{{- if and .Values.web.tls.enabled (not .Values.web.tls.existingSecret) }}
{{- fail "web.tls.enabled needs web.tls.existingSecret: the name of a Secret with the server certificate and key (e.g. one made by cert-manager)" }}
{{- end }}
{{- range $key := list "smallRingSize" "ringSize" }}
{{- $ring := int (index $.Values.recorder $key) }}
{{- $n := $ring }}
{{- range until 64 }}
{{- if and (gt $n 1) (eq (mod $n 2) 0) }}{{ $n = div $n 2 }}{{ end }}
{{- end }}
{{- if ne $n 1 }}
{{- fail (printf "recorder.%s must be a power of two, got %d" $key $ring) }}
{{- end }}
{{- end }}
{{- if and .Values.dump.enabled (eq .Values.dump.authz.mode "kubernetes") (not (empty .Values.web.basicAuth.users)) }}
{{- fail "web.basicAuth.users cannot be combined with dump.authz.mode=kubernetes: basic auth and the bearer token of a dump request both need the Authorization header. Use web.tls with dump.authz, or dump.authz.mode=none with basic auth" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not (empty .Values.web.basicAuth.users)) (not .Values.serviceMonitor.basicAuth.existingSecret) }}
{{- fail "web.basicAuth.users is set: Prometheus needs a password to scrape. Set serviceMonitor.basicAuth.existingSecret (a Secret with the plain username and password), or serviceMonitor.enabled=false" }}
{{- end }}
{{- end }}

{{/*
The exporter's command-line arguments, as a YAML list. Optional settings left
empty in the values are not passed, so the exporter's own defaults apply.
*/}}
{{- define "flightrec-exporter.args" -}}
{{- $v := .Values }}
{{- $args := list (printf "--web.listen-address=:%d" (int $v.web.port)) }}
{{- $args = append $args (printf "--web.telemetry-path=%s" $v.web.telemetryPath) }}
{{- with $v.web.externalURL }}
{{- $args = append $args (printf "--web.external-url=%s" .) }}
{{- end }}
{{- if include "flightrec-exporter.webConfigEnabled" . }}
{{- $args = append $args (printf "--web.config.file=%s/web-config.yml" (include "flightrec-exporter.webConfigDir" .)) }}
{{- end }}
{{- $args = append $args (printf "--path.cgroupfs=%s" (include "flightrec-exporter.cgroupfsMount" .)) }}
{{- $args = append $args (printf "--recorder.cgroup-parent=%s" $v.recorder.cgroupParent) }}
{{- $args = append $args (printf "--recorder.memory-budget=%s" $v.recorder.memoryBudget) }}
{{- $args = append $args (printf "--recorder.small-ring-size=%d" (int $v.recorder.smallRingSize)) }}
{{- $args = append $args (printf "--recorder.ring-size=%d" (int $v.recorder.ringSize)) }}
{{- $args = append $args (printf "--recorder.spare-rings=%d" (int $v.recorder.spareRings)) }}
{{- $args = append $args (printf "--recorder.max-containers=%d" (int $v.recorder.maxContainers)) }}
{{- $args = append $args (printf "--recorder.capture-bytes=%d" (int $v.recorder.captureBytes)) }}
{{- with $v.recorder.reclaimInterval }}
{{- $args = append $args (printf "--recorder.reclaim-interval=%s" .) }}
{{- end }}
{{- with $v.collector.gracePeriod }}
{{- $args = append $args (printf "--collector.grace-period=%s" .) }}
{{- end }}
{{- with $v.collector.syscallsWatch }}
{{- $args = append $args (printf "--collector.syscalls.watch=%s" (join "," .)) }}
{{- end }}
{{- if $v.dump.enabled }}
{{- $args = append $args "--dump.enabled=true" }}
{{- with $v.dump.retention }}
{{- $args = append $args (printf "--dump.retention=%s" .) }}
{{- end }}
{{- if not (kindIs "invalid" $v.dump.maxFrozen) }}
{{- $args = append $args (printf "--dump.max-frozen=%d" (int $v.dump.maxFrozen)) }}
{{- end }}
{{- with $v.dump.namespaces }}
{{- $args = append $args (printf "--dump.namespaces=%s" (join "," .)) }}
{{- end }}
{{- with $v.dump.excludeNamespaces }}
{{- $args = append $args (printf "--dump.exclude-namespaces=%s" (join "," .)) }}
{{- end }}
{{- if $v.dump.peerForwarding }}
{{- $args = append $args (printf "--dump.peer-selector=%s" (include "flightrec-exporter.peerSelector" .)) }}
{{- $args = append $args "--dump.peer-namespace=$(POD_NAMESPACE)" }}
{{- if $v.web.tls.enabled }}
{{- /* Peers serve TLS too: verified against the same CA, for the Service's name their certificates carry (as the ServiceMonitor does). */}}
{{- $args = append $args "--dump.peer-scheme=https" }}
{{- $args = append $args (printf "--dump.peer-ca-file=%s/ca.crt" (include "flightrec-exporter.tlsDir" .)) }}
{{- $args = append $args (printf "--dump.peer-server-name=%s.%s.svc" (include "flightrec-exporter.fullname" .) .Release.Namespace) }}
{{- end }}
{{- end }}
{{- if $v.dump.stateHostPath }}
{{- $args = append $args (printf "--dump.state-dir=%s" (include "flightrec-exporter.stateDir" .)) }}
{{- end }}
{{- $args = append $args (printf "--dump.authz=%s" $v.dump.authz.mode) }}
{{- if eq $v.dump.authz.mode "kubernetes" }}
{{- $args = append $args (printf "--dump.authz.verb=%s" $v.dump.authz.verb) }}
{{- $args = append $args (printf "--dump.authz.resource=%s" $v.dump.authz.resource) }}
{{- $args = append $args (printf "--dump.authz.subresource=%s" $v.dump.authz.subresource) }}
{{- end }}
{{- $args = append $args (printf "--dump.redaction=%t" $v.dump.redaction) }}
{{- range $v.dump.redact }}
{{- $args = append $args (printf "--dump.redact=%s" .) }}
{{- end }}
{{- else }}
{{- $args = append $args "--dump.enabled=false" }}
{{- end }}
{{- $args = append $args "--kubernetes.node-name=$(NODE_NAME)" }}
{{- if $v.hostPaths.criSocket }}
{{- $args = append $args (printf "--kubernetes.cri-endpoint=/host%s" $v.hostPaths.criSocket) }}
{{- else }}
{{- $args = append $args "--kubernetes.cri-endpoint=" }}
{{- end }}
{{- if $v.bpf.pin }}
{{- $args = append $args (printf "--bpf.pin-path=%s/flightrec" (include "flightrec-exporter.bpffsMount" .)) }}
{{- $args = append $args (printf "--bpf.fs-path=%s" (include "flightrec-exporter.bpffsMount" .)) }}
{{- else }}
{{- $args = append $args "--bpf.pin-path=" }}
{{- end }}
{{- $args = append $args (printf "--log.level=%s" $v.log.level) }}
{{- $args = append $args (printf "--log.format=%s" $v.log.format) }}
{{- range $v.extraArgs }}
{{- $args = append $args (toString .) }}
{{- end }}
{{- toYaml $args }}
{{- end }}
