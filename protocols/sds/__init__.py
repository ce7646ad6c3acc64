"""Short data: SDS-TL (``tl``), text and concatenation (``text``), status values and
tables (``status``), LIP positions (``lip``) and the typed-message front door (``message``).

Import from those modules: each re-exports the names its helper modules define
(``tl``: ``delivery``; ``text``: ``text_coding``, ``text_user_data``, ``concat``;
``lip``: ``lip_elements``, ``lip_shapes``, ``lip_long``), see docs/internal-api.md.
This package re-exports nothing so that importing one of them never drags in the others.
"""
