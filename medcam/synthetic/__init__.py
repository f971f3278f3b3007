"""Synthetic data: the chest phantom and DICOM writers (tests, samples, training)."""
