"""Transfer syntaxes the listener accepts.

Instances are stored as received and never decoded on the way in, so the
Storage SCP can accept every transfer syntax pydicom knows: compressed
data costs the archive nothing until somebody asks to transcode it.
"""

from pydicom.uid import (
    AllTransferSyntaxes,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

# Used for contexts without pixel data (verification, queries).
UNCOMPRESSED = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]

# Uncompressed first; the rest (deflate, JPEG baseline/extended/lossless,
# JPEG-LS, JPEG 2000 and HTJ2K, RLE, MPEG/HEVC video) in pydicom's order.
STORAGE = UNCOMPRESSED + [uid for uid in AllTransferSyntaxes if uid not in UNCOMPRESSED]
