"""int8 calibration from a text corpus.

Not implemented yet: this package only reserves the import name `voxport.calibration`
(see the issue "int8 from a text corpus"). Nothing here claims to quantize.
"""
