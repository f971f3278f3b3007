"""Intake: the spool, the DICOM listener and the upload parser."""
