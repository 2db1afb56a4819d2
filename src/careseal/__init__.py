"""CareSeal: a self-hosted secure email gateway for clinics."""

__version__ = "0.1.0"
