"""The chaos suite: the real gateway, broker and emulator under seeded faults.

``python -m tests.chaos --help``; see ``docs/chaos.md``.
"""
