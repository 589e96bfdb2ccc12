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

{{/* ", --kube-api-qps, Q, --kube-api-burst, N" for what .v (a component's
     kubeApi) sets; empty: the binary's defaults. */}}
{{- define "ironlb.kubeApiArgs" -}}
{{- $v := .v | default dict -}}
{{- $q := toString ($v.qps | default "") -}}
{{- if eq (toString $v.qps) "0" }}{{ $q = "0" }}{{ end -}}
{{- $b := toString ($v.burst | default "") -}}
{{- if eq (toString $v.burst) "0" }}{{ $b = "0" }}{{ end -}}
{{- if $q -}}
{{- if not (regexMatch "^[0-9]+([.][0-9]+)?$" $q) -}}
{{- fail (printf "%s.kubeApi.qps: %q is not a number of requests a second (0: no limit)" .component $q) -}}
{{- end }}, --kube-api-qps, {{ $q | quote }}
{{- end -}}
{{- if $b -}}
{{- if not (regexMatch "^[1-9][0-9]*$" $b) -}}
{{- fail (printf "%s.kubeApi.burst: %q is not a number of requests at once (1 or more)" .component $b) -}}
{{- end }}, --kube-api-burst, {{ $b | quote }}
{{- end -}}
{{- end -}}
