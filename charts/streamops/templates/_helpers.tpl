{{/* Names and labels shared by every template. */}}
{{- define "streamops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "streamops.fullname" -}}
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

{{- define "streamops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streamops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "streamops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "streamops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: streamops
{{- end }}

{{- define "streamops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "streamops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image: its repository, else <imageRegistry (default ghcr.io/streamops)>/streamops-<name>; its tag, else appVersion. */}}
{{- define "streamops.imageRef" -}}
{{- $registry := default "ghcr.io/streamops" .root.Values.imageRegistry }}
{{- $repository := default (printf "%s/streamops-%s" $registry .name) .image.repository }}
{{- printf "%s:%s" $repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "streamops.image" -}}
{{- include "streamops.imageRef" (dict "root" . "image" .Values.image "name" "operator") }}
{{- end }}

{{- define "streamops.edgeImage" -}}
{{- include "streamops.imageRef" (dict "root" . "image" .Values.edge.image "name" "edge") }}
{{- end }}

{{- define "streamops.overlayImage" -}}
{{- include "streamops.imageRef" (dict "root" . "image" .Values.worker.overlayImage "name" "overlay") }}
{{- end }}

{{- define "streamops.workerImage" -}}
{{- include "streamops.imageRef" (dict "root" . "image" .Values.worker.image "name" "worker") }}
{{- end }}
