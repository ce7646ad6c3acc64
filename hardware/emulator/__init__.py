"""A virtual TETRA network (SwMI, gateway terminals, field units, DGNA) for tests and demos.

Run it with ``tetragw emulator`` or ``python -m hardware.emulator``; embed it with
``async with hardware.emulator.app.Emulator(scenario)``. See ``docs/emulator.md``.
"""
