"""Patients' informed consent to plain email, given in the portal or recorded by staff from paper."""
