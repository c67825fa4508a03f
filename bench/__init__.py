"""`make bench`: pacsweb and Orthanc measured side by side on one dataset.

The same client code measures both servers: each is reduced to a Target
(a DICOMweb base URL and a DICOM host, port and AE title). See
docs/performance.md for the figures and how to reproduce them.
"""
