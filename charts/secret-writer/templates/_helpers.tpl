{{/* The namespaces of the Secrets, each once, in order. */}}
{{- define "secret-writer.namespaces" -}}
{{- $seen := list -}}
{{- range .Values.secrets -}}
{{- $ns := required "every secret needs a namespace" .namespace -}}
{{- if hasPrefix "kube-" $ns }}{{ fail (printf "secret namespace %q: the writer gets no Role in Kubernetes' own namespaces" $ns) }}{{ end -}}
{{- if not (has $ns $seen) }}{{ $seen = append $seen $ns }}{{ end -}}
{{- end -}}
{{- toJson $seen -}}
{{- end }}

{{- define "secret-writer.labels" -}}
app.kubernetes.io/name: secret-writer
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
