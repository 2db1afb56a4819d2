"""The patient portal: pickup, identity check, reading and secure reply."""
