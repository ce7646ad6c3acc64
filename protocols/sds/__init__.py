"""Short data: SDS-TL (``tl``), text and concatenation (``text``), status values and
tables (``status``), LIP positions (``lip``) and the typed-message front door (``message``).

Import from the modules themselves; this package re-exports nothing so that importing
one of them never drags in the others.
"""
