"""medcam PACS service: FastAPI + pynetdicom + dicomweb-client on top of ``medcam``.

Run it with ``python -m service``; build an app for tests with
:func:`service.main.create_app`. Settings come from ``MEDCAM_*`` environment
variables (:class:`service.settings.Settings`).
"""
