{{- define "wordpress.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wordpress.selector" -}}
app.kubernetes.io/name: wordpress
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wordpress.labels" -}}
{{ include "wordpress.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "wordpress.dbenv" -}}
{{- $s := required "database.existingSecret is required" .Values.database.existingSecret -}}
- name: WORDPRESS_DB_HOST
  valueFrom: {secretKeyRef: {name: {{ $s }}, key: host}}
- name: WORDPRESS_DB_PORT
  valueFrom: {secretKeyRef: {name: {{ $s }}, key: port}}
- name: WORDPRESS_DB_NAME
  valueFrom: {secretKeyRef: {name: {{ $s }}, key: name}}
- name: WORDPRESS_DB_USER
  valueFrom: {secretKeyRef: {name: {{ $s }}, key: user}}
- name: WORDPRESS_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $s }}, key: password}}
{{- end }}
