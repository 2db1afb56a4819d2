"""The web process: health check now, patient portal and staff console later."""
