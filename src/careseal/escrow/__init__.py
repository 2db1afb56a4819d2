"""Escrowed messages: kept encrypted here, picked up by the patient in the portal."""
