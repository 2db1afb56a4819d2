"""The yearly HIPAA risk-assessment report, computed from delivery rows and the audit trail."""
