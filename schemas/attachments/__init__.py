"""Attachments: the metadata of each upload (``tables``) and the bodies of the attachment
routes (``api``); the bytes are in ``services.attachments`` storage.
"""
