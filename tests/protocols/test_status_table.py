"""Status values (PEI reference §6) and the configured tables that give them meaning."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import ProtocolError
from protocols.sds.status import (
    MEANINGS,
    StatusEntry,
    StatusKind,
    StatusTable,
    classify_status,
)

CONFIG = Path(__file__).resolve().parents[2] / "config" / "status"

AMK_MEANINGS = [
    "acknowledged",
    "en_route",
    "on_scene",
    "patient_contact",
    "transporting",
    "at_hospital",
    "mission_ended",
    "available",
    "unavailable",
]


def _load(name: str) -> StatusTable:
    return StatusTable.from_toml((CONFIG / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (0x0000, StatusKind.EMERGENCY),
        (0x0001, StatusKind.RESERVED),
        (0x7BFF, StatusKind.RESERVED),
        (0x7C00, StatusKind.SHORT_REPORT),
        (0x7E01, StatusKind.SHORT_REPORT),
        (0x7FFF, StatusKind.SHORT_REPORT),
        (0x8000, StatusKind.OPERATOR),
        (0xFFFF, StatusKind.OPERATOR),
    ],
)
def test_status_value_kind_follows_the_16_bit_ranges(value: int, kind: StatusKind) -> None:
    assert classify_status(value) is kind


@pytest.mark.parametrize("value", [-1, 0x10000])
def test_status_outside_16_bits_is_refused(value: int) -> None:
    with pytest.raises(ProtocolError):
        classify_status(value)


def test_amk_default_table_gives_every_dispatch_meaning_a_norwegian_label() -> None:
    table = _load("amk-default.toml")
    assert table.name
    for meaning in AMK_MEANINGS:
        value = table.value_of(meaning)
        assert value is not None, meaning
        assert classify_status(value) is StatusKind.OPERATOR
        entry = table.lookup(value)
        assert entry is not None
        assert entry.meaning == meaning
        assert entry.label
    assert table.lookup(0x8003) == StatusEntry(0x8003, "on_scene", "Framme")
    assert table.lookup(0x8001) == StatusEntry(0x8001, "acknowledged", "Kvittert")
    assert table.lookup(0) == StatusEntry(0, "emergency", "Nødalarm")
    assert table.lookup(0xABCD) is None


def test_german_bos_table_maps_status_n_to_0x8002_plus_n() -> None:
    table = _load("german-bos.toml")
    for n in range(10):
        entry = table.lookup(0x8002 + n)
        assert entry is not None
        assert entry.label.startswith(f"Status {n}")
    assert table.value_of("acknowledged") == 0x8005  # Status 3
    assert table.value_of("on_scene") == 0x8006  # Status 4
    assert table.value_of("available") == 0x8003  # first of Status 1 and 2
    lookup = table.lookup(0x8007)
    assert lookup is not None
    assert lookup.meaning is None  # Status 5 (speech request) has no dispatch meaning
    assert table.value_of("patient_contact") is None


def test_same_value_means_different_things_in_the_two_tables() -> None:
    amk, bos = _load("amk-default.toml"), _load("german-bos.toml")
    amk_entry, bos_entry = amk.lookup(0x8003), bos.lookup(0x8003)
    assert amk_entry is not None
    assert bos_entry is not None
    assert (amk_entry.meaning, bos_entry.meaning) == ("on_scene", "available")


GOOD_ROW = '[[status]]\nvalue = 0x8001\nmeaning = "acknowledged"\nlabel = "Kvittert"\n'


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (GOOD_ROW + GOOD_ROW, r"status entry 2 \(value 0x8001\): duplicate"),
        (
            GOOD_ROW + '[[status]]\nvalue = 0x8002\nmeaning = "coffee"\nlabel = "Kaffe"\n',
            r"status entry 2 \(value 0x8002\): unknown meaning 'coffee'",
        ),
        ('[[status]]\nvalue = 0x10000\nlabel = "x"\n', r"status entry 1.*outside 0..0xFFFF"),
        ('[[status]]\nvalue = -1\nlabel = "x"\n', r"status entry 1.*outside"),
        ('[[status]]\nvalue = 0x7E01\nlabel = "x"\n', r"status entry 1.*short reports"),
        ('[[status]]\nvalue = 0x8001\nlabel = ""\n', r"status entry 1.*label"),
        ("[[status]]\nvalue = 0x8001\n", r"status entry 1.*'label'"),
        ('[[status]]\nlabel = "x"\n', r"status entry 1: 'value' is missing"),
        ('[[status]]\nvalue = "8001"\nlabel = "x"\n', r"status entry 1: .*integer"),
        ('[[status]]\nvalue = 0x8001\nlabel = "x"\nmeanig = "on_scene"\n', r"unknown keys"),
        ("[[status]\n", r"not valid TOML"),
    ],
)
def test_malformed_table_gives_a_protocol_error_naming_the_entry(rows: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        StatusTable.from_toml('name = "test"\n' + rows)


def test_table_without_name_is_refused() -> None:
    with pytest.raises(ProtocolError, match="name"):
        StatusTable.from_toml(GOOD_ROW)


def test_table_from_mapping_equals_the_same_table_from_toml() -> None:
    mapping = {
        "name": "test",
        "status": [{"value": 0x8001, "meaning": "acknowledged", "label": "Kvittert"}],
    }
    assert StatusTable.from_mapping(mapping) == StatusTable.from_toml('name = "test"\n' + GOOD_ROW)


def test_every_meaning_in_the_shipped_tables_is_a_dispatch_meaning() -> None:
    for name in ("amk-default.toml", "german-bos.toml"):
        for entry in _load(name).entries:
            assert entry.meaning is None or entry.meaning in MEANINGS


@given(st.text(max_size=200))
def test_random_toml_text_gives_a_table_or_protocol_error(text: str) -> None:
    with contextlib.suppress(ProtocolError):
        StatusTable.from_toml(text)


@given(
    st.dictionaries(
        st.sampled_from(["name", "status", "other"]),
        st.one_of(
            st.text(max_size=5),
            st.integers(),
            st.lists(
                st.dictionaries(
                    st.sampled_from(["value", "meaning", "label", "x"]),
                    st.one_of(st.integers(-5, 0x10005), st.text(max_size=5), st.none()),
                ),
                max_size=4,
            ),
        ),
    )
)
def test_random_mappings_give_a_table_or_protocol_error(data: dict[str, object]) -> None:
    with contextlib.suppress(ProtocolError):
        table = StatusTable.from_mapping(data)
        for entry in table.entries:
            assert table.lookup(entry.value) == entry
