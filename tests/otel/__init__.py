"""OpenTelemetry: the plugin, and AWS's OpenTelemetry conformance suite run locally."""
