{{/*
Shared pieces of the ironlb chart's templates.  Object names and the Pods'
labels are fixed (controller, speaker; app: metallb, component: ...) as
MetalLB's own manifest names them, because the guide's commands select them
by those names and labels.
*/}}

{{/* "--log-level L" arguments for a component's logLevel; nothing for info
(the default), so the default render keeps deploy/ironlb.yaml's arguments. */}}
{{- define "ironlb.logLevelArgs" -}}
{{- $l := .level | default "info" -}}
{{- if not (has $l (list "debug" "info" "warn" "warning" "error")) -}}
{{- fail (printf "%s.logLevel: %q is not a level ironlb has; use debug, info, warn or error (MetalLB's all and none have no equivalent)" .component $l) -}}
{{- end -}}
{{- if ne $l "info" }}, --log-level, {{ $l | quote }}{{ end -}}
{{- end -}}

{{/* "--namespace NS" when the release is not in metallb-system (both
components read their configuration from that namespace by default). */}}
{{- define "ironlb.namespaceArgs" -}}
{{- if ne .Release.Namespace "metallb-system" }}, --namespace, {{ .Release.Namespace | quote }}{{ end -}}
{{- end -}}

{{/* "--lb-class CLASS" arguments when loadBalancerClass is set. */}}
{{- define "ironlb.lbClassArgs" -}}
{{- with .Values.loadBalancerClass }}, --lb-class, {{ . | quote }}{{ end -}}
{{- end -}}

{{/* The image reference of a component's image values. */}}
{{- define "ironlb.image" -}}
{{- if not .repository -}}
{{- fail "image.repository: empty; set controller.image.repository and speaker.image.repository to where the ironlb image is" -}}
{{- end -}}
{{ .repository }}{{ with .tag }}:{{ . }}{{ end }}
{{- end -}}

{{/* Pod annotations: Prometheus's scrape annotations, then the user's. */}}
{{- define "ironlb.podAnnotations" -}}
{{- $a := dict -}}
{{- if .root.Values.prometheus.scrapeAnnotations -}}
{{- $_ := set $a "prometheus.io/scrape" "true" -}}
{{- $_ := set $a "prometheus.io/port" (toString .port) -}}
{{- end -}}
{{- $a = merge (deepCopy (.annotations | default dict)) $a -}}
{{- with $a }}
      annotations:
{{- toYaml . | nindent 8 }}
{{- end -}}
{{- end -}}
