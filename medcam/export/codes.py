"""Coded concepts of the DICOM result set (PM, SEG, TID 1500 SR, KOS).

Every code below is taken from pydicom's concept dictionary (DICOM PS3.16, 2024+)
or, where noted, from the LOINC/SNOMED CT releases as used in public imaging
orders; none is invented. Choices:

* **Method** (CID 217 "Visual Explanation"): DCM 130403 "Gradient-weighted class
  activation" for methods whose weights are gradients of the class score (Grad-CAM
  and its gradient variants), DCM 130402 "Class activation" for every other CAM
  (gradient-free, perturbation and the original CAM). DCM 130404 "Saliency" is kept
  for future pixel-gradient attributions. Used as Derivation Code (PM, SEG) and as
  the measurement groups' Measurement Method (SR).
* **Probability**: DCM 122157 "Probability" (no context group); UCUM ``1`` "no units".
  DCM 111047 "Probability of cancer" (CID 6048) was rejected: medcam's classes are
  not necessarily cancer.
* **Finding** default: SCT 404684003 "Finding" (CID 3769); callers pass the model
  spec's class coding (e.g. SCT 27925004 "Nodule").
* **Procedure reported** (TID 1500 row 2, CID 100, extensible): LOINC 24627-2 "CT
  Chest" for CT with Body Part Examined ``CHEST``/``THORAX``/``LUNG``; SCT 399208008
  "Plain X-ray of chest" for DX/CR chest radiographs; otherwise the CID 100
  "unspecified body region" LOINC code of the modality (CT 25045-6, MR 25056-3,
  XR 43468-8, NM 49118-3, PET 44136-0), and SCT 363679005 "Imaging procedure" last.
* **Segment** of the explanation region: category SCT 309825002 "Spatial and
  Relational Concept" (CID 7150); type NCIt C85402 "Imaging Region of Interest"
  (CID 272). No CID 7151 concept means "region a model attended to"; an anatomical
  or morphological type would claim more than a heatmap shows.
* **KOS title**: DCM 113000 "Of Interest" (CID 7010).
"""

from __future__ import annotations

from pydicom.sr.coding import Code

from medcam.export._dicom import method_code

__all__ = ["CLASS_ACTIVATION", "DEFAULT_FINDING", "GRADIENT_CLASS_ACTIVATION", "IMAGING_PROCEDURE",
           "METHOD_CODES", "NO_UNITS", "OF_INTEREST", "PROBABILITY", "REGION_OF_INTEREST",
           "SALIENCY", "SPATIAL_CONCEPT", "method_concept", "procedure_code"]

CLASS_ACTIVATION = Code("130402", "DCM", "Class activation")
GRADIENT_CLASS_ACTIVATION = Code("130403", "DCM", "Gradient-weighted class activation")
SALIENCY = Code("130404", "DCM", "Saliency")
PROBABILITY = Code("122157", "DCM", "Probability")
NO_UNITS = Code("1", "UCUM", "no units")
DEFAULT_FINDING = Code("404684003", "SCT", "Finding")
SPATIAL_CONCEPT = Code("309825002", "SCT", "Spatial and Relational Concept")
REGION_OF_INTEREST = Code("C85402", "NCIt", "Imaging Region of Interest")
OF_INTEREST = Code("113000", "DCM", "Of Interest")
IMAGING_PROCEDURE = Code("363679005", "SCT", "Imaging procedure")
CT_CHEST = Code("24627-2", "LN", "CT Chest")
CHEST_RADIOGRAPH = Code("399208008", "SCT", "Plain X-ray of chest")

#: CID 217 concept of every method in :mod:`medcam.cam.registry`.
METHOD_CODES: dict[str, Code] = {
    **dict.fromkeys(("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "fgcam",
                     "fdcam"), GRADIENT_CLASS_ACTIVATION),
    **dict.fromkeys(("cam", "scorecam", "ablationcam", "eigencam", "recipro", "clustercam"),
                    CLASS_ACTIVATION),
}
_UNSPECIFIED_REGION = {
    "CT": Code("25045-6", "LN", "CT unspecified body region"),
    "MR": Code("25056-3", "LN", "MRI unspecified body region"),
    "NM": Code("49118-3", "LN", "NM unspecified body region"),
    "PT": Code("44136-0", "LN", "PET unspecified body region"),
    **dict.fromkeys(("DX", "CR", "RG", "MG"), Code("43468-8", "LN", "XR unspecified body region")),
}
_CHEST = frozenset({"CHEST", "THORAX", "LUNG"})


def method_concept(method: str) -> Code | None:
    """Return the CID 217 concept of a CAM method.

    Args:
        method: the method name, e.g. ``"gradcam"``.

    Returns:
        The :data:`METHOD_CODES` entry, else the name-based guess of
        :func:`medcam.export._dicom.method_code`, else ``None``.

    """
    return METHOD_CODES.get(method.lower()) or method_code(method)


def procedure_code(modality: str, body_part: str) -> Code:
    """Return the imaging procedure (TID 1500 Procedure Reported) of a source series.

    Args:
        modality: Modality (0008,0060), e.g. ``"CT"``.
        body_part: Body Part Examined (0018,0015), e.g. ``"CHEST"``; ``""`` if absent.

    Returns:
        The code chosen as described in the module docstring.

    """
    modality, part = modality.strip().upper(), body_part.strip().upper()
    if part in _CHEST and modality == "CT":
        return CT_CHEST
    if part in _CHEST and modality in ("DX", "CR"):
        return CHEST_RADIOGRAPH
    return _UNSPECIFIED_REGION.get(modality, IMAGING_PROCEDURE)
