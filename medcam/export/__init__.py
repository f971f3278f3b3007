"""DICOM export of heatmaps: burned-in Secondary Capture series and previews.

Import from the submodules (nothing is re-exported here, so importing the package
stays cheap):

* :mod:`medcam.export.sc`: ``write_secondary_capture(series, cam, info, out_dir)``;
* :mod:`medcam.export.preview`: ``preview_png(series, cam, path, n=6, info=None)``;
* :mod:`medcam.export.types`: ``HeatmapInfo``, ``CamScale``, ``ExportedObject``;
* :mod:`medcam.export.colormap`: ``overlay``, ``window_to_uint8``, the colour scale;
* :mod:`medcam.export.render`: banner and legend burn-in;
* :mod:`medcam.export.uids`: ``derive_uid``.
"""
