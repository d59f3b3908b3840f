"""Every cloud's metadata documents, shared by the emulator and the metadata service.

Pure functions from a VM's JSON (an emulator scenario, or a VM the metadata
service stores) to what a cloud's metadata service answers: no I/O, no state.
One module per cloud (``<key>.py``, its row in ``providers/registry.py``), and
what they share (``common.py``: answers, tokens; ``instance.py``: a VM's identity).
"""
