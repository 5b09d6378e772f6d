"""Intake channels besides the API's own report: devices, their merge, Open311."""
