"""The durable store: callouts, per-unit sends, incidents and timelines, unit status, the
outbox and the audit trail, in one SQLite file (WAL).

Typical use by the engine::

    store = Store.in_data_dir("./var")
    with store.transaction() as tx:          # one SQLite transaction
        acceptance = tx.accept_callout(new_callout)
        if acceptance.created:
            tx.publish(topic, accepted_payload)  # sent by the bridge after COMMIT
    for send in store.sends_due(store.now()):
        ...

See ``docs/internal-api.md`` ("store and audit") for the whole flow.
"""

from gateway.store.database import STORE_FILENAME, Clock, Store, Synchronous, store_path
from gateway.store.kpi import DurationStats, KpiReport, percentile
from gateway.store.queries import StoreReader
from gateway.store.records import (
    ENDED_BY_DISPATCH,
    FINAL_SEND_STATES,
    TIMELINE_MEANINGS,
    Acceptance,
    CalloutRecord,
    CalloutState,
    GssiInUseError,
    IncidentClosedError,
    IncidentRecord,
    IncidentTimeline,
    NewCallout,
    OutboxMessage,
    SendRecord,
    SendState,
    StatusOutcome,
    StoreError,
    TalkgroupState,
    TimelineUnit,
    UnitAssignment,
    UnitStatusRecord,
    UnknownRecordError,
)
from gateway.store.schema import SCHEMA_VERSION, StoreVersionError
from gateway.store.transaction import Transaction

__all__ = [
    "ENDED_BY_DISPATCH",
    "FINAL_SEND_STATES",
    "SCHEMA_VERSION",
    "STORE_FILENAME",
    "TIMELINE_MEANINGS",
    "Acceptance",
    "CalloutRecord",
    "CalloutState",
    "Clock",
    "DurationStats",
    "GssiInUseError",
    "IncidentClosedError",
    "IncidentRecord",
    "IncidentTimeline",
    "KpiReport",
    "NewCallout",
    "OutboxMessage",
    "SendRecord",
    "SendState",
    "StatusOutcome",
    "Store",
    "StoreError",
    "StoreReader",
    "StoreVersionError",
    "Synchronous",
    "TalkgroupState",
    "TimelineUnit",
    "Transaction",
    "UnitAssignment",
    "UnitStatusRecord",
    "UnknownRecordError",
    "percentile",
    "store_path",
]
