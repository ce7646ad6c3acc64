"""Inputs the fuzzer found that broke a contract, pinned so that they stay fixed.

Each test names the target that found it (``python -m tests.fuzz.run``).
"""

from __future__ import annotations

import pytest

from protocols.errors import ProtocolError
from protocols.sds.status import StatusTable

# Found by status_table_toml (python -m tests.fuzz.run --budget-s 90): tomllib parses nested
# arrays and inline tables recursively, so a few thousand '[' exhaust the Python stack and
# StatusTable.from_toml leaked RecursionError instead of ProtocolError.
_DEEP_ARRAY = 'name = "x"\na = ' + "[" * 3000 + "]" * 3000 + "\n"
_DEEP_TABLE = 'name = "x"\na = ' + "{ b = " * 3000 + "1" + " }" * 3000 + "\n"


@pytest.mark.parametrize("text", [_DEEP_ARRAY, _DEEP_TABLE], ids=["array", "inline_table"])
def test_status_table_with_deeply_nested_value_is_refused_as_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError):
        StatusTable.from_toml(text)
