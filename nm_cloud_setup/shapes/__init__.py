"""The per-cloud response shapes, shared by the test emulator and the metadata service.

Pure functions from a VM (the scenario/VM JSON agreed in the README) to what a
cloud's metadata service answers: no I/O, no state.
"""
