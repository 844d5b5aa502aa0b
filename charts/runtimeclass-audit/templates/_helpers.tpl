{{/* Names and labels shared by every template. */}}

{{- define "rcaudit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-runtimeclass-audit, or the release name alone when it already says so. */}}
{{- define "rcaudit.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "rcaudit.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Every object's labels: `-l app.kubernetes.io/instance=<release>` finds all of a release's. */}}
{{- define "rcaudit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: runtimeclass-audit
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/name: {{ include "rcaudit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of one component: include "rcaudit.selectorLabels" (list . "agent") */}}
{{- define "rcaudit.selectorLabels" -}}
{{- $ := index . 0 }}
app.kubernetes.io/name: {{ include "rcaudit.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "rcaudit.componentLabels" -}}
{{ include "rcaudit.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- /*
The image: <registry>/<repository>, by digest when one is set, else by tag
(the chart's appVersion unless set). A repository that names its registry
itself (it has a "/") needs no image.registry, as before that value existed.
*/ -}}
{{- define "rcaudit.image" -}}
{{- $repository := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository }}
{{- else if not (contains "/" .Values.image.repository) }}
{{- fail "image.registry is not set: say where the runtimeclass-audit image was published, e.g. --set image.registry=registry.example.com/rcaudit (hack/release.sh publishes the image and the chart to a registry; a chart it published defaults to that registry)" }}
{{- end }}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{- define "rcaudit.serviceAccountName" -}}
{{- $ := index . 0 }}
{{- $component := index . 1 }}
{{- $sa := get (get $.Values $component) "serviceAccount" }}
{{- if $sa.create }}
{{- default (printf "%s-%s" (include "rcaudit.fullname" $) $component) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/* The securityContext shared by both containers; the agent adds runAsUser 0 (see agent/daemonset.yaml). */}}
{{- define "rcaudit.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The probes: open paths, over HTTPS when metrics.secure (the kubelet does not verify a probe's certificate). */}}
{{- define "rcaudit.probes" -}}
{{- $scheme := ternary "HTTPS" "HTTP" .Values.metrics.secure }}
livenessProbe:
  httpGet: { path: /livez, port: metrics, scheme: {{ $scheme }} }
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet: { path: /readyz, port: metrics, scheme: {{ $scheme }} }
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}

{{/*
The Secret that holds a process's serving certificate, or "" when the
process makes its own at start (metrics.tls.insecureSkipVerify, or plain
HTTP). metrics.tls.secretName when given (the same name in each process's
namespace); else the one the chart issues (metrics-tls.yaml), one per
process, so that the agent's namespace never holds the operator's key.
  include "rcaudit.metricsTlsSecret" (list $ "agent")
*/}}
{{- define "rcaudit.metricsTlsSecret" -}}
{{- $ := index . 0 }}
{{- $tls := $.Values.metrics.tls }}
{{- if and $tls.secretName $tls.insecureSkipVerify }}
{{- fail "metrics.tls.secretName and metrics.tls.insecureSkipVerify: set one; a certificate you give is verified" }}
{{- end }}
{{- if not $.Values.metrics.secure }}
{{- else if $tls.secretName }}{{ $tls.secretName }}
{{- else if not $tls.insecureSkipVerify }}{{ include "rcaudit.fullname" $ }}-{{ index . 1 }}-metrics-tls
{{- end }}
{{- end }}

{{/* A process's metrics server flags (metrics.secure, metrics.tls): (list $ "agent"). */}}
{{- define "rcaudit.metricsArgs" -}}
{{- $ := index . 0 }}
- --listen-port={{ $.Values.metrics.port }}
{{- if not $.Values.metrics.secure }}
- --no-metrics-secure
{{- else if include "rcaudit.metricsTlsSecret" . }}
- --tls-cert-file=/etc/rcaudit/metrics-tls/tls.crt
- --tls-key-file=/etc/rcaudit/metrics-tls/tls.key
{{- end }}
{{- end }}

{{/* The certificate Secret's mount, when the process has one: (list $ "agent"). */}}
{{- define "rcaudit.metricsTlsMount" -}}
{{- if include "rcaudit.metricsTlsSecret" . }}
- name: metrics-tls
  mountPath: /etc/rcaudit/metrics-tls
  readOnly: true
{{- end }}
{{- end }}

{{/*
The certificate Secret as a volume: (list $ "agent"). Optional: a Secret
that is missing (or not yet issued) must not keep the pod from starting and
auditing; the process then says so in its log and answers /metrics with 503
until it is there (it looks again every minute).
*/}}
{{- define "rcaudit.metricsTlsVolume" -}}
{{- with include "rcaudit.metricsTlsSecret" . }}
- name: metrics-tls
  secret:
    secretName: {{ . }}
    optional: true
{{- end }}
{{- end }}

{{/* RBAC rules for checking who scrapes /metrics (metrics.secure). */}}
{{- define "rcaudit.scrapeReviewRules" -}}
{{- if .Values.metrics.secure }}
# Who scrapes /metrics, and may they: TokenReview and SubjectAccessReview
# (metrics.secure). Create only; neither reads or changes anything stored.
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end }}
{{- end }}

{{/*
The node affinity of one agent DaemonSet group (agent/daemonset.yaml), as
YAML: the user's agent.affinity with the group's node label ANDed into every
required term (or into one new term), so the groups land on complementary
nodes. The main group with no other groups adds nothing.
  fromYaml (include "rcaudit.agentAffinity" (list $ $group))
*/}}
{{- define "rcaudit.agentAffinity" -}}
{{- $ := index . 0 }}
{{- $group := index . 1 }}
{{- $bylabel := $.Values.agent.criSocketByNodeLabel }}
{{- $affinity := deepCopy $.Values.agent.affinity }}
{{- if and $bylabel.key (or (ne $group.operator "NotIn") $group.values) }}
{{- $expr := dict "key" $bylabel.key "operator" $group.operator "values" $group.values }}
{{- $nodeAffinity := default dict $affinity.nodeAffinity }}
{{- $required := default dict (get $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution") }}
{{- $terms := default (list dict) (get $required "nodeSelectorTerms") }}
{{- $newTerms := list }}
{{- range $term := $terms }}
{{- $newTerms = append $newTerms (merge (dict "matchExpressions" (append (default list (get $term "matchExpressions")) $expr)) $term) }}
{{- end }}
{{- $_ := set $required "nodeSelectorTerms" $newTerms }}
{{- $_ := set $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution" $required }}
{{- $_ := set $affinity "nodeAffinity" $nodeAffinity }}
{{- end }}
{{- toYaml $affinity }}
{{- end }}

{{/*
The agent's namespace: agent.namespace.name, or "<release namespace>-agent"
(the release namespace cut to fit the 63 characters of a name).
*/}}
{{- define "rcaudit.probeNamespace" -}}
{{- printf "%s-probes" (trunc 56 .Release.Namespace | trimSuffix "-") }}
{{- end }}

{{- define "rcaudit.agentNamespace" -}}
{{- default (printf "%s-agent" (trunc 57 .Release.Namespace | trimSuffix "-")) .Values.agent.namespace.name }}
{{- end }}

{{/*
A duration value, checked against its range; the operator's and agent's
flags have the same ranges (cli/flags.ts DURATION_BOUNDS; a unit test
compares them). Renders the value:
  include "rcaudit.duration" (list "agent.interval" .Values.agent.interval "100ms" "10m")
*/}}
{{- define "rcaudit.duration" -}}
{{- $path := index . 0 }}
{{- $value := index . 1 | toString }}
{{- $min := index . 2 }}
{{- $max := index . 3 }}
{{- $ms := include "rcaudit.durationMs" $value | float64 }}
{{- if or (lt $ms (include "rcaudit.durationMs" $min | float64)) (gt $ms (include "rcaudit.durationMs" $max | float64)) }}
{{- fail (printf "%s: %s is out of range: a duration from %s to %s" $path $value $min $max) }}
{{- end }}
{{- $value }}
{{- end }}

{{/* "500ms", "2s", "5m", "1h" -> milliseconds (values.schema.json has already checked the form). */}}
{{- define "rcaudit.durationMs" -}}
{{- $form := "^([0-9]+(?:\\.[0-9]+)?)(ms|s|m|h)$" }}
{{- $number := regexReplaceAll $form . "${1}" | float64 }}
{{- $unit := regexReplaceAll $form . "${2}" }}
{{- mulf $number (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit) }}
{{- end }}

{{/*
The CEL of the policies that hold an account of the product to its own
labels on a Node (operator-node-policy.yaml, and the proofs' withdrawal in
probes-withdraw.yaml): the variables they need, and each rule.
*/}}
{{- define "rcaudit.nodeLabelVariables" -}}
- name: oldLabels
  expression: "oldObject.metadata.?labels.orValue({})"
- name: newLabels
  expression: "object.metadata.?labels.orValue({})"
- name: ours
  expression: "['rcaudit.dev/', 'runtimeclass.rcaudit.dev/', 'probe.runtimeclass.rcaudit.dev/']"
{{- end }}

{{- define "rcaudit.nodeOwnLabelsOnly" -}}
variables.newLabels.all(k, variables.ours.exists(p, k.startsWith(p)) || (k in variables.oldLabels && variables.oldLabels[k] == variables.newLabels[k]))
&& variables.oldLabels.all(k, variables.ours.exists(p, k.startsWith(p)) || k in variables.newLabels)
{{- end }}

{{- define "rcaudit.nodeNothingElse" -}}
object.metadata.?annotations.orValue({}) == oldObject.metadata.?annotations.orValue({})
&& has(object.spec) == has(oldObject.spec) && (!has(object.spec) || object.spec == oldObject.spec)
{{- end }}
