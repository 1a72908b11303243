"""``attest report``: the evidence for one image as a single HTML file people can read.

:mod:`~oci_attest.report.model` selects what to show from a verdict; :mod:`render` turns it
into HTML under a strict Content-Security-Policy. Nothing is fetched when the file is opened.
"""
