"""DICOM building blocks of the export: verbatim context copies and coded concepts."""

from __future__ import annotations

import copy

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.valuerep import PersonName

__all__ = ["CONTEXT_KEYWORDS", "SOURCE_PURPOSE", "code_item", "copy_context", "method_code",
           "raw_text"]

#: Patient, clinical-trial, study and patient-study attributes copied verbatim.
CONTEXT_KEYWORDS = (
    "SpecificCharacterSet",
    "PatientName", "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
    "TypeOfPatientID", "PatientBirthDate", "PatientBirthTime", "PatientSex",
    "OtherPatientIDsSequence", "PatientSpeciesDescription", "PatientSpeciesCodeSequence",
    "PatientBreedDescription", "PatientBreedCodeSequence", "ResponsiblePerson",
    "ResponsiblePersonRole", "ResponsibleOrganization", "PatientIdentityRemoved",
    "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    "ClinicalTrialSponsorName", "ClinicalTrialProtocolID", "ClinicalTrialProtocolName",
    "ClinicalTrialSiteID", "ClinicalTrialSiteName", "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID",
    "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "IssuerOfAccessionNumberSequence", "StudyDescription", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "ProcedureCodeSequence",
    "PatientAge", "PatientSize", "PatientWeight",
)
#: Purpose of Reference of each Source Image Sequence item (CID 7202).
SOURCE_PURPOSE = Code("121322", "DCM", "Source image for image processing operation")
_GRADIENT_CAMS = frozenset({"gradcam", "gradcampp", "gradcamplusplus", "xgradcam", "layercam",
                            "hirescam", "smoothgradcampp", "fgcam", "fullgrad"})


def method_code(method: str) -> Code | None:
    """Return the CID 217 "Visual Explanation" concept of a CAM method, if one applies.

    Args:
        method: CAM method name, e.g. ``"gradcam"``.

    Returns:
        DCM 130403 for gradient-weighted CAM variants, 130402 for other class
        activation methods, 130404 for saliency, else ``None``.

    """
    key = "".join(c for c in method.lower() if c.isalnum())
    if key in _GRADIENT_CAMS:
        return Code("130403", "DCM", "Gradient-weighted class activation")
    if "cam" in key:
        return Code("130402", "DCM", "Class activation")
    if "saliency" in key:
        return Code("130404", "DCM", "Saliency")
    return None


def code_item(code: Code) -> Dataset:
    """Return a Code Sequence item (value, scheme, meaning) for ``code``.

    Args:
        code: the coded concept.

    Returns:
        The sequence item.

    """
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = (
        code.value, code.scheme_designator, code.meaning)
    return item


def _verbatim(header: Dataset, keyword: str) -> DataElement | None:
    """Copy one element of ``header`` keeping its value bytes where it can.

    An undecoded (raw) element keeps its exact bytes and is neither decoded nor
    validated: pydicom's decode/encode round trip is not byte-exact (e.g. trailing
    empty Person Name groups), and its validation warnings quote values, which
    here are patient data. A decoded Person Name keeps the bytes it was decoded
    from. A raw number that cannot be stored is dropped (only optional numeric
    attributes can be affected). ``header`` is not modified.
    """
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in header:
        return None
    elem = header.get_item(tag)
    if isinstance(elem, RawDataElement):
        vr = elem.VR or dictionary_VR(tag)
        if vr == "SQ":
            return convert_raw_data_element(elem, encoding=header.original_character_set,
                                            ds=header)
        try:
            return DataElement(tag, vr, bytes(elem.value or b""), validation_mode=config.IGNORE)
        except ValueError:
            return None
    if isinstance(elem.value, PersonName) and elem.value.original_string:
        return DataElement(tag, "PN", elem.value.original_string)
    return copy.deepcopy(elem)


def raw_text(header: Dataset, keyword: str) -> str:
    """Return an ASCII attribute of ``header`` as text, without pydicom validation.

    Args:
        header: the source header (not modified).
        keyword: attribute keyword, e.g. ``"StudyDate"``.

    Returns:
        The value with padding stripped; ``""`` if absent or empty.

    """
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in header:
        return ""
    elem = header.get_item(tag)
    if isinstance(elem, RawDataElement):
        return bytes(elem.value or b"").decode("ascii", errors="replace").strip(" \0")
    return "" if elem.value is None else str(elem.value).strip()


def copy_context(ds: Dataset, header: Dataset) -> None:
    """Copy the :data:`CONTEXT_KEYWORDS` present in ``header`` into ``ds``, verbatim.

    Args:
        ds: the dataset being built.
        header: the source header (not modified).

    """
    for kw in CONTEXT_KEYWORDS:
        elem = _verbatim(header, kw)
        if elem is not None:
            ds[elem.tag] = elem
