"""Intake channels other than the API's own ``POST /cases``: cameras and sensors and the
map from what they detect to a case type (``devices``), and Open311 GeoReport v2
service requests (``open311``).
"""
